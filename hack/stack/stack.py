"""The stack in motion: the hook's rendered stack run by the real Prometheus and Thanos.

Usage (hack/stack-local.sh sets it up): stack.py HOOK_BINARY BIN_DIR STATE_DIR
with KUBECONFIG naming the e2e control plane. Prints one line per check and ends with
`stack: N passed, M failed`.

Two PrometheusReplicas share one bucket on an S3 object store (moto, over HTTPS with a test CA
that the pods trust, as a cluster's nodes trust their object store's CA):
- `example`: the 2018 example (deploy/examples) with the 2018 `s3_*` bucket Secret, highly
  available, with 2-minute blocks so that uploads happen within the run;
- `other`: an `objstore.yml` Secret and the same bucket, highly available, without a compactor
  (two compactors on one bucket corrupt it, the very defect the shared-bucket check shows), with
  its store gateways in two shards and memcached for its caches.
Old blocks of `example`, made with promtool and older than the compactor's consistency delay,
are put in the bucket first, so that a compaction happens without waiting half an hour; so are
two blocks that differ only in the replica label, for the compactor's offline deduplication, and
old blocks of `other` whose ids fall in both of its shards.

The hook renders each stack from a sync request as Metacontroller sends it after the customize
hook (parent, related ConfigMap and Secret); the children are applied to the real API server,
whose controllers make the Pods that runner.py runs.
"""

import concurrent.futures
import datetime
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.parse

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runner as rn  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NS = "stack"
MINIO_IP = "10.96.0.20"
MINIO_NAMES = ["minio.minio.svc.cluster.local.", "minio.minio.svc."]
BUCKET = "thanos"
ROLLED_BUCKET = "thanos-rolled"
BLOCK = "2m"
ULID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# Error lines the real programs log in a healthy steady state, each with the reason it is harmless.
ACCEPTED_ERRORS = [
    # The sidecar asks Prometheus for its config before Prometheus listens (a second or two).
    (re.compile(r"connection refused"), "a component asked a peer that was not listening yet"),
    # Before the first block exists, the sidecar's reloader finds no WAL yet.
    (re.compile(r"WAL dir is not accessible"), "the sidecar starts before Prometheus made its WAL"),
    # A ConfigMap update swaps the volume's `..data` link and removes the old folder while the
    # reloader hashes the rule directory; the kubelet's atomic writer has the same window. The
    # reloader retries on its next tick and reloads (the reload check proves it).
    (re.compile(r'msg="apply error" err="build hash: (lstat|stat|readdirent) /etc/prometheus/config/\.\.'),
     "the reloader read a ConfigMap volume while it was swapped"),
    # Thanos's reloader, at the sidecar's start, signals Prometheus and then waits for its last reload
    # time to pass the time of its signal. That time has whole seconds: when Prometheus loaded its
    # config in the same second, the wait runs to its deadline (--reloader.watch-interval, which the
    # hook sets to 30s) and logs this line; the reloader then watches the files and signals again.
    (re.compile(r"post-reload check failed: context deadline exceeded"),
     "the sidecar's first reload check cannot see a reload in the same second (Thanos)"),
    # The same wait after a change: two changes of the config volume within a second signal twice, and
    # the second reload has the first's time. The reloader retries at once with the context that the
    # wait used up, logs these two lines, and reloads at its next tick (the second signal had already
    # loaded the latest files).
    (re.compile(r"pre-reload check failed: failed to get config status before reload: .*context deadline exceeded"),
     "the sidecar's retry after a reload check that could not see a reload in the same second (Thanos)"),
]

# The replica label the operator sets by default.
REPLICA_LABEL = "prometheus_replica"
# The label of a store gateway shard's pods (src/names.rs).
SHARD_LABEL = "prometheus.robszumski.com/store-shard"
OTHER_SHARDS = 2
# The samples of each replica's copy of the block that offline deduplication merges.
DEDUP_SAMPLES = 60


def default_memcached_image():
    """The memcached image the hook renders by default (src/spec/scale.rs), which the runner maps
    to Debian's memcached."""
    with open(os.path.join(REPO, "src/spec/scale.rs"), encoding="utf-8") as f:
        return re.search(r'pub const MEMCACHED_IMAGE: &str = "([^"]+)";', f.read()).group(1)

results = []
findings = []


def log(msg):
    print(f"stack: {msg}", flush=True)


def check(name, fn, *args):
    """Run one check; an AssertionError or any exception is a failure with its message."""
    started = time.time()
    try:
        detail = fn(*args)
        results.append((name, True))
        log(f"ok   {name} ({time.time() - started:.0f}s){': ' + detail if detail else ''}")
        return True
    except Exception as e:  # noqa: BLE001 - every failure is reported, the run goes on
        results.append((name, False))
        log(f"FAIL {name} ({time.time() - started:.0f}s): {e}")
        if not isinstance(e, AssertionError):
            traceback.print_exc()
        return False


def until(what, seconds, fn, interval=2):
    """Call FN until it returns a truthy value; raise naming WHAT and FN's last answer."""
    deadline = time.time() + seconds
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - kept as the last answer
            last = e
        if time.time() > deadline:
            raise AssertionError(f"{what}: not within {seconds}s (last: {str(last)[:400]})")
        time.sleep(interval)


def kubectl(*args, stdin=None):
    r = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def ulid(ms):
    value = (ms << 80) | random.getrandbits(80)
    return "".join(ULID_CHARS[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def ulid_ms(u):
    value = 0
    for ch in u:
        value = value * 32 + ULID_CHARS.index(ch)
    return value >> 80


class Stack:
    """One PrometheusReplica: its objects, its rendering and what runs of it."""

    def __init__(self, world, name, spec, secret):
        self.world = world
        self.name = name
        self.spec = spec
        self.secret = secret
        self.replicas = 0  # the Pods its rendered workloads ask for, set by apply()
        with open(os.path.join(REPO, "deploy/examples/prometheus-config.yaml"), encoding="utf-8") as f:
            self.configmap = yaml.safe_load(f)
        self.configmap["metadata"] = {"name": f"{name}-config", "namespace": NS}
        config = yaml.safe_load(self.configmap["data"]["prometheus.yml"])
        # Short intervals, so that alerts and queries see data within the run.
        config["global"].update(scrape_interval="5s", scrape_timeout="4s", evaluation_interval="5s")
        self.configmap["data"]["prometheus.yml"] = yaml.safe_dump(config)

    def parent(self):
        return {
            "apiVersion": "prometheus.robszumski.com/v1alpha1",
            "kind": "PrometheusReplica",
            "metadata": {"name": self.name, "namespace": NS, "uid": f"uid-{self.name}", "generation": 1},
            "spec": self.spec,
        }

    def request(self):
        with open(os.path.join(REPO, "deploy/compositecontroller.yaml"), encoding="utf-8") as f:
            controller = yaml.safe_load(f)
        keys = {
            "statefulsets": "StatefulSet.apps/v1", "deployments": "Deployment.apps/v1", "services": "Service.v1",
            "configmaps": "ConfigMap.v1", "poddisruptionbudgets": "PodDisruptionBudget.policy/v1",
            "ingresses": "Ingress.networking.k8s.io/v1", "serviceaccounts": "ServiceAccount.v1",
            "roles": "Role.rbac.authorization.k8s.io/v1", "rolebindings": "RoleBinding.rbac.authorization.k8s.io/v1",
            "persistentvolumeclaims": "PersistentVolumeClaim.v1",
        }
        related = {"ConfigMap.v1": {}, "Secret.v1": {}}
        cm = self.world.api.get(f"/api/v1/namespaces/{NS}/configmaps/{self.spec['configMap']}")
        secret = self.world.api.get(f"/api/v1/namespaces/{NS}/secrets/{self.spec['bucketSecret']}")
        for kind, obj in (("ConfigMap.v1", cm), ("Secret.v1", secret)):
            if obj:
                related[kind][f"{NS}/{obj['metadata']['name']}"] = obj
        children = {keys[r["resource"]]: {} for r in controller["spec"]["childResources"]}
        # The observed querier, as Metacontroller sends it: the hook keeps the replica labels it
        # deduplicates on (the upgrade from the former default).
        querier = self.world.api.get(f"/apis/apps/v1/namespaces/{NS}/deployments/{self.name}-thanos-query")
        if querier:
            children["Deployment.apps/v1"][querier["metadata"]["name"]] = querier
        return {
            "controller": controller,
            "parent": self.parent(),
            "children": children,
            "related": related,
            "finalizing": False,
        }

    def render(self):
        path = os.path.join(self.world.state, f"request-{self.name}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.request(), f)
        return subprocess.run([self.world.hook, "render", path], capture_output=True, text=True, check=True).stdout

    def install_former_querier(self):
        """The querier as the operator rendered it while `replica` was the default replica label."""
        docs = [d for d in yaml.safe_load_all(self.render()) if d]
        querier = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == f"{self.name}-thanos-query")
        container = querier["spec"]["template"]["spec"]["containers"][0]
        container["args"] = [a.replace(f"--query.replica-label={REPLICA_LABEL}", "--query.replica-label=replica")
                             for a in container["args"]]
        kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=metacontroller", "-f", "-",
                stdin=yaml.safe_dump(querier))

    def apply(self):
        """Render with the hook and apply every child, as Metacontroller would."""
        rendered = self.render()
        with open(os.path.join(self.world.state, f"children-{self.name}.yaml"), "w", encoding="utf-8") as f:
            f.write(rendered)
        kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=metacontroller", "-f", "-",
                stdin=rendered)
        self.children = [d for d in yaml.safe_load_all(rendered) if d]
        self.replicas = sum(c["spec"].get("replicas", 1) for c in self.children
                            if c["kind"] in ("StatefulSet", "Deployment"))
        return self.children

    def pods(self, component=None):
        pods = [p for p in self.world.runner.running() if p.name.startswith(self.name + "-")]
        if component:
            pods = [p for p in pods if p.obj["metadata"]["labels"].get("app.kubernetes.io/component") == component]
        return sorted(pods, key=lambda p: p.name)

    def url(self, service, port, path=""):
        ips = self.world.runner.on_node(rn.resolve, f"{self.name}-{service}", NS)
        assert ips, f"{self.name}-{service} has no ready endpoint in DNS"
        return f"http://{ips[0]}:{port}{path}"

    def query(self, service, promql, port=10902, **params):
        return self.world.query(self.url(service, port), promql, **params)


class World:
    def __init__(self, hook, bins, state):
        self.hook = hook
        self.bins = bins
        self.state = state
        self.api = rn.Api(os.environ["KUBECONFIG"])
        self.network = None
        self.runner = None
        self.minio = None
        self.s3_pool = None

    # -- the pieces around the Pods -------------------------------------------------------------
    def start(self):
        os.makedirs(self.state, exist_ok=True)
        self.network = rn.Network(self.state)
        self.network.add(rn.NODE, rn.NODE_IP)
        self.dns = rn.Dns(self.network)
        self.ca = self.certificates()
        self.start_minio()
        binaries = {}
        for folder, version in pins().items():
            program = folder.split("-")[0]
            binaries[image(folder, version)] = {
                "path": f"{self.bins}/{folder}", "entry": f"/bin/{program}",
                **({"workdir": "/prometheus"} if program == "prometheus" else {})}
        memcached = shutil.which("memcached")
        assert memcached, "memcached is missing (Debian package memcached)"
        binaries[default_memcached_image()] = {"path": memcached, "entry": "/usr/bin/memcached", "libraries": True}
        extra = {name: MINIO_IP for name in MINIO_NAMES}
        self.runner = rn.Runner(self.api, self.state, self.network, self.dns, binaries, [NS],
                                f"{self.state}/pki/ca.crt", extra)

    def certificates(self):
        pki = f"{self.state}/pki"
        os.makedirs(pki, exist_ok=True)
        run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=stack-ca",
            "-keyout", f"{pki}/ca.key", "-out", f"{pki}/ca.crt")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=minio.minio.svc",
            "-keyout", f"{pki}/minio.key", "-out", f"{pki}/minio.csr")
        with open(f"{pki}/san.ext", "w", encoding="utf-8") as f:
            f.write(f"subjectAltName=DNS:minio.minio.svc,DNS:minio.minio.svc.cluster.local,IP:{MINIO_IP}\n")
        run("openssl", "x509", "-req", "-in", f"{pki}/minio.csr", "-CA", f"{pki}/ca.crt", "-CAkey",
            f"{pki}/ca.key", "-CAcreateserial", "-days", "2", "-out", f"{pki}/minio.crt", "-extfile", f"{pki}/san.ext")
        return f"{pki}/ca.crt"

    def start_minio(self):
        self.network.add(rn.PREFIX + "minio", MINIO_IP)
        pki = f"{self.state}/pki"
        moto = shutil.which("moto_server")
        self.minio = subprocess.Popen(
            ["ip", "netns", "exec", rn.PREFIX + "minio", moto, "-H", MINIO_IP, "-p", "9000",
             "-c", f"{pki}/minio.crt", "-k", f"{pki}/minio.key"],
            stdout=open(f"{self.state}/minio.log", "w"), stderr=subprocess.STDOUT, start_new_session=True,
            # Path-style only: else moto takes the host name's first label (`minio`) for a bucket.
            env={**os.environ, "S3_IGNORE_SUBDOMAIN_BUCKETNAME": "true"})
        rn.remember(self.state, "pid", self.minio.pid)
        self.s3_pool = concurrent.futures.ThreadPoolExecutor(2, initializer=rn.enter_netns, initargs=(rn.NODE,))
        until("the object store", 60, lambda: self.s3(lambda c: c.list_buckets()) is not None, 1)

    def s3(self, fn):
        def call():
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3", endpoint_url=f"https://{MINIO_IP}:9000", verify=self.ca, region_name="us-east-1",
                aws_access_key_id="stack", aws_secret_access_key="stack-secret",
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                              connect_timeout=3, read_timeout=10))
            return fn(client)

        return self.s3_pool.submit(call).result()

    def blocks(self, bucket=BUCKET):
        """Every block's meta.json in BUCKET, by block id."""
        def fetch(c):
            return {key.split("/")[0]: json.loads(c.get_object(Bucket=bucket, Key=key)["Body"].read())
                    for key in keys(c, bucket) if key.endswith("/meta.json") and key.count("/") == 1}

        return self.s3(fetch)

    def deletion_marked(self, bucket=BUCKET):
        """The ids of the blocks in BUCKET that the compactor marked for deletion."""
        return self.s3(lambda c: {key.split("/")[0] for key in keys(c, bucket) if key.endswith("/deletion-mark.json")})

    def query(self, base, promql, path="/api/v1/query", **params):
        q = urllib.parse.urlencode({"query": promql, **params}, doseq=True)
        status, body = self.runner.http(f"{base}{path}?{q}")
        assert status == 200, f"{base}{path} {promql}: HTTP {status}: {body[:300]!r}"
        return json.loads(body)["data"]["result"]

    def stop(self):
        if self.runner:
            self.runner.close()
        if self.minio:
            self.minio.terminate()
            try:
                self.minio.wait(10)
            except subprocess.TimeoutExpired:
                self.minio.kill()
        if self.s3_pool:
            self.s3_pool.shutdown(wait=False)
        if self.network:
            self.network.close()


def keys(client, bucket):
    """Every object key in BUCKET."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def pins():
    """The versions the stack's binaries are built at, from hack/stack/*/go.mod, by folder: the
    defaults (prometheus, thanos) and the oldest supported (prometheus-oldest, thanos-oldest)."""
    versions = {}
    for folder in ("prometheus", "thanos", "prometheus-oldest", "thanos-oldest"):
        module = "github.com/prometheus/prometheus" if folder.startswith("prometheus") else "github.com/thanos-io/thanos"
        with open(os.path.join(REPO, f"hack/stack/{folder}/go.mod"), encoding="utf-8") as f:
            version = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)", f.read(), re.M).group(1)
        if folder.startswith("prometheus"):  # v0.314.0 is Prometheus v3.14.0, v0.53.0 is v2.53.0
            minor, patch = version[1:].split(".")[1:]
            version = f"v{int(minor) // 100 or 2}.{int(minor) % 100}.{patch}"
        versions[folder] = version
    return versions


def image(folder, version):
    """The image a binary of hack/stack/FOLDER stands for."""
    repository = "quay.io/prometheus/prometheus" if folder.startswith("prometheus") else "quay.io/thanos/thanos"
    return f"{repository}:{version}"


# -- setup ---------------------------------------------------------------------------------------
def hashmod(value, modulus):
    """Prometheus's `hashmod` relabel action (model/relabel): the last 8 bytes of the MD5 of the
    value, big-endian, modulo MODULUS. A store gateway shard keeps the blocks whose id gives its index."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus


def promtool_blocks(world, folder, lines):
    """The block folders promtool makes of the OpenMetrics LINES (2h blocks), oldest first."""
    src = f"{world.state}/{folder}"
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    with open(f"{src}/data.om", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    subprocess.run([f"{world.bins}/promtool", "tsdb", "create-blocks-from", "openmetrics", f"{src}/data.om",
                    f"{src}/out"], check=True, capture_output=True)
    return [f"{src}/out/{b}" for b in sorted(os.listdir(f"{src}/out")) if os.path.isfile(f"{src}/out/{b}/meta.json")]


def upload_block(world, path, new, labels):
    """Put the block at PATH in the bucket as block NEW, as a sidecar of LABELS would have uploaded it."""
    with open(f"{path}/meta.json", encoding="utf-8") as f:
        meta = json.load(f)
    meta["ulid"] = new
    meta["compaction"]["sources"] = [new]
    meta["thanos"] = {"labels": labels, "downsample": {"resolution": 0}, "source": "sidecar"}
    files = []
    for root, _, names in os.walk(path):
        for n in names:
            if n != "meta.json":
                files.append(os.path.relpath(os.path.join(root, n), path))

    def upload(c):
        for rel in files:
            with open(f"{path}/{rel}", "rb") as f:
                c.put_object(Bucket=BUCKET, Key=f"{new}/{rel}", Body=f.read())
        c.put_object(Bucket=BUCKET, Key=f"{new}/meta.json", Body=json.dumps(meta).encode())

    world.s3(upload)


def block_ids(count, ms, shards=1):
    """COUNT block ids of time MS (an hour old: older than the compactor's consistency delay), which
    fall in every one of SHARDS store gateway shards."""
    while True:
        ids = [ulid(ms + i) for i in range(count)]
        if {hashmod(i, shards) for i in ids} == set(range(shards)):
            return ids


def backfill_lines(start):
    """`stack_backfill` every minute over 10h from START, and one sample 1 ms before START + 8h."""
    lines = ["# TYPE stack_backfill gauge"]
    for t in range(start, start + 36000, 60):
        lines.append(f'stack_backfill{{source="promtool"}} {t % 997} {t}')
        if t == start + 28740:
            lines.append(f'stack_backfill{{source="promtool"}} 1 {start + 28799.999:.3f}')
    lines.append("# EOF")
    return lines


def old_blocks(world, labels, shards=1):
    """Five 2h blocks a day old, with block ids an hour old, as a sidecar of LABELS would have
    uploaded them: old enough for the compactor to compact at once. Thanos's planner leaves the
    newest block alone and compacts a range of lower blocks that spans exactly 8h, so the data
    starts on an 8h boundary, has a sample 1 ms before the next one, and goes on into a fifth block.
    The ids fall in every one of SHARDS store gateway shards. Returns the ids, oldest first (the
    first four are the ones a compactor must compact), the data's start and its number of samples."""
    now = int(time.time())
    start = (now - 86400) // 28800 * 28800
    lines = backfill_lines(start)
    paths = promtool_blocks(world, f"old-blocks-{labels['prometheus'].split('/')[1]}", lines)
    assert len(paths) == 5, f"promtool made {len(paths)} blocks of the 10h range, expected 5"
    ids = block_ids(len(paths), (now - 3600) * 1000, shards)
    for path, new in zip(paths, ids):
        upload_block(world, path, new, labels)
    return ids, start, len(lines) - 2


def dedup_blocks(world, stack):
    """One 2h block two days old, uploaded twice as the two replicas of STACK would have: the same
    samples, external labels that differ only in the replica label, ids an hour old. With offline
    deduplication the compactor merges them into one block without the replica label."""
    now = int(time.time())
    start = (now - 2 * 86400) // 7200 * 7200
    lines = ["# TYPE stack_dedup gauge"]
    lines += [f'stack_dedup{{source="promtool"}} {t % 997} {t}' for t in range(start, start + 60 * DEDUP_SAMPLES, 60)]
    lines.append("# EOF")
    paths = promtool_blocks(world, "dedup-blocks", lines)
    assert len(paths) == 1, f"promtool made {len(paths)} blocks of a 1h range, expected 1"
    ids = block_ids(2, (now - 3600) * 1000 + 100)
    for replica, new in enumerate(ids):
        upload_block(world, paths[0], new, {"prometheus": f"{NS}/{stack}", REPLICA_LABEL: f"{stack}-prometheus-{replica}"})
    return ids


def secret(name, data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
            "type": "Opaque", "stringData": data}


def objects_yaml(objs):
    return yaml.safe_dump_all(objs)


# -- the checks ----------------------------------------------------------------------------------
def all_ready(world, stacks):
    def ready():
        pods = world.runner.running()
        want = sum(s.replicas for s in stacks)
        up = [p for p in pods if p.ready()]
        if world.runner.sync_error:
            raise AssertionError(f"{len(up)} of {want} ready; the runner: {world.runner.sync_error}")
        return len(up) == want and len(pods) == want

    until("every pod ready", 240, ready, 2)
    return f"{len(world.runner.running())} pods"


def probes_answer(world):
    """Every readiness and liveness probe of every container has answered 200 (a TCP probe: the
    port accepted a connection)."""
    passed = {(j[1], j[2], j[3]) for j in world.runner.journal
              if j[3] in ("readinessProbe", "livenessProbe") and j[4].endswith((" 200", " open"))}
    missing = []
    for pod in world.runner.running():
        for c in pod.containers:
            for kind in ("readinessProbe", "livenessProbe"):
                if c.spec.get(kind) and (pod.name, c.name, kind) not in passed:
                    missing.append(f"{pod.name}/{c.name} {kind}")
    # Liveness probes run every 10s: give each one its first chance.
    assert not missing, f"no 200 yet from: {missing}"
    return f"{len(passed)} probes passed"


def distinct_external_labels(stack):
    seen = {}
    for pod in stack.pods("prometheus"):
        status, body = stack.world.runner.http(f"http://{pod.ip}:9090/api/v1/status/config")
        assert status == 200, f"{pod.name}: /api/v1/status/config answered {status}"
        config = yaml.safe_load(json.loads(body)["data"]["yaml"])
        labels = config["global"]["external_labels"]
        assert labels.get(REPLICA_LABEL) == pod.name, f"{pod.name}: external labels {labels}"
        assert labels.get("prometheus") == f"{NS}/{stack.name}", f"{pod.name}: external labels {labels}"
        # The 2018 example's own `replica: $(HOSTNAME)` differs per pod too: left out, or nothing dedups.
        assert "replica" not in labels, f"{pod.name}: external labels {labels}"
        seen[pod.name] = labels
    assert len(seen) == 2, f"expected 2 Prometheus replicas, found {sorted(seen)}"
    return ", ".join(f"{k}: {v[REPLICA_LABEL]}" for k, v in seen.items())


def querier_sees_everything(stack):
    def stores():
        status, body = stack.world.runner.http(stack.url("thanos-query", 10902, "/api/v1/stores"))
        data = (json.loads(body)["data"] or {}) if status == 200 else {}
        healthy = {kind: sorted(s["name"] for s in group if not s.get("lastError")) for kind, group in data.items()}
        sidecars, stores_ = healthy.get("sidecar", []), healthy.get("store", [])
        want_sidecars = sorted(f"{p.ip}:10901" for p in stack.pods("prometheus"))
        want_stores = sorted(f"{p.ip}:10901" for p in stack.pods("store"))
        return (sidecars, stores_) if sidecars == want_sidecars and stores_ == want_stores else None

    sidecars, stores_ = until(f"{stack.name}'s querier lists its sidecars and store gateways", 90, stores, 3)
    return f"{sorted(sidecars + stores_)}"


def up_deduplicated(stack):
    """`up` through the querier and the frontend: one series per target, no replica label."""
    world = stack.world

    def per_replica():
        pods = stack.pods("prometheus")
        counts = [len(world.query(f"http://{p.ip}:9090", "up")) for p in pods]
        return counts if len(set(counts)) == 1 and counts[0] >= 8 else None

    # Every job is discovered (the SRV refresh is 30s) once each replica sees the same targets.
    until("both replicas scrape every target", 120, per_replica, 5)

    def up_through(service):
        # The replicas' targets are counted again on every try: both replicas can agree on a count while DNS
        # discovery has not yet found every pod (a store gateway shard that became ready since), and the
        # querier is then right to answer more.
        counts = per_replica()
        if counts is None:
            raise AssertionError("the replicas scrape different numbers of targets")
        targets = counts[0]
        series = stack.query(service, "up")
        if len(series) == targets:
            return series, targets
        # What differs, for the failure message: the first replica's targets (job, instance) that the
        # answer lacks, and the answer's that are none of them (the answer has external labels besides).
        pod = stack.pods("prometheus")[0]
        want = [target(s["metric"]) for s in world.query(f"http://{pod.ip}:9090", "up")]
        got = [target(s["metric"]) for s in series]
        raise AssertionError(f"{len(series)} series, not {targets}: lacking "
                             f"{sorted(set(want) - set(got))[:3]}, besides {sorted(set(got) - set(want))[:3]}, "
                             f"twice {sorted({t for t in got if got.count(t) > 1})[:3]}")

    def target(metric):
        return metric.get("job"), metric.get("instance")

    out = []
    for service in ("thanos-query", "thanos-query-frontend"):
        series, targets = until(f"up through {service}", 60, lambda service=service: up_through(service), 3)
        with_replica = [s["metric"] for s in series if REPLICA_LABEL in s["metric"]]
        assert not with_replica, f"{service}: series still carry the replica label: {with_replica[:2]}"
        assert all(s["metric"].get("prometheus") == f"{NS}/{stack.name}" for s in series), series[:2]
        out.append(f"{service} {len(series)}")
    raw = stack.query("thanos-query", "up", dedup="false")
    assert len(raw) == 2 * targets, f"without dedup the querier returns {len(raw)} series, expected {2 * targets}"
    return f"{targets} targets per replica; " + ", ".join(out) + f"; {len(raw)} without dedup"


def alert_rules(stack, pod):
    status, body = stack.world.runner.http(f"http://{pod.ip}:9090/api/v1/rules?type=alert")
    assert status == 200
    return [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]


def alerts_silent_and_grounded(stack):
    """In the healthy state no alert but the Watchdog is pending or firing, the Watchdog fires, and
    every selector of every alert names series that exist (an alert over a metric that never
    appears can never fire)."""
    world = stack.world
    pod = stack.pods("prometheus")[0]
    base = f"http://{pod.ip}:9090"
    rules = alert_rules(stack, pod)
    self_rules = [r for r in rules if r["name"].startswith(("PrometheusReplica", "Thanos", "Prometheus"))]
    assert len(self_rules) >= 8, f"only {len(self_rules)} self-monitoring alerts loaded"
    active = [(r["name"], a["state"], a["labels"]) for r in rules for a in r.get("alerts", []) if r["name"] != "Watchdog"]
    assert not active, f"alerts active in the healthy state: {active}"
    watchdog = [a["state"] for r in rules if r["name"] == "Watchdog" for a in r.get("alerts", [])]
    assert watchdog == ["firing"], f"the Watchdog is {watchdog or 'not active'}, expected firing"
    missing = []
    checked = 0
    for rule in self_rules:
        status, body = world.runner.http(f"{base}/api/v1/parse_query?" + urllib.parse.urlencode({"query": rule["query"]}))
        assert status == 200, f"parse_query {rule['name']}: {status}"
        for sel in selectors(json.loads(body)["data"]):
            # The identity of the series (name and job); matchers on values that appear only
            # when something fails (code, grpc_code) are left out.
            ident = [m for m in sel["matchers"] if m["name"] in ("__name__", "job")]
            text = "{" + ",".join(f'{m["name"]}{m["type"]}"{m["value"]}"' for m in ident) + "}"
            checked += 1
            if not world.query(base, f"count({text})"):
                missing.append(f"{rule['name']}: {text}")
    assert not missing, f"selectors that match no series: {missing}"
    return f"{len(self_rules)} alerts silent, the Watchdog firing, {checked} selectors match series"


def selectors(node):
    if isinstance(node, dict):
        if node.get("type") in ("vectorSelector", "matrixSelector"):
            yield node
        for v in node.values():
            yield from selectors(v)
    elif isinstance(node, list):
        for v in node:
            yield from selectors(v)


def alert_state(stack, name, labels=None):
    states = set()
    for pod in stack.pods("prometheus"):
        if pod.halted:
            continue
        for r in alert_rules(stack, pod):
            if r["name"] != name:
                continue
            for a in r.get("alerts", []):
                if all(a["labels"].get(k) == v for k, v in (labels or {}).items()):
                    states.add(a["state"])
    return states


def wait_alert(stack, name, labels, seconds=150):
    until(f"{name} {labels or ''} pending or firing", seconds,
          lambda: alert_state(stack, name, labels) & {"pending", "firing"}, 5)


def compaction(world, old_ids):
    def compacted():
        metas = world.blocks()
        for bid, meta in metas.items():
            sources = set(meta["compaction"].get("sources", []))
            if bid not in old_ids and meta["compaction"]["level"] >= 2 and set(old_ids) <= sources:
                return bid, meta
        return None

    bid, meta = until("the compactor compacts the old blocks into one", 240, compacted, 10)
    marked = world.deletion_marked()
    assert set(old_ids) <= marked, f"the compacted sources are not marked for deletion: {set(old_ids) - marked}"
    hours = (meta["maxTime"] - meta["minTime"]) / 3600000
    return f"block {bid}: level {meta['compaction']['level']}, {hours:.0f}h from {len(old_ids)} blocks"


def compactor_not_halted(stack):
    pod = stack.pods("compact")[0]
    status, body = stack.world.runner.http(f"http://{pod.ip}:10902/metrics")
    halted = re.search(r"^thanos_compact_halted (\S+)", body.decode(), re.M)
    assert halted and float(halted.group(1)) == 0, f"thanos_compact_halted: {halted and halted.group(1)}"
    runs = re.search(r"^thanos_compact_group_compactions_total\{[^}]*\} (\S+)", body.decode(), re.M)
    return f"halted 0, compactions {runs.group(1) if runs else '?'}"


def uploads(stack, after=0):
    """Blocks of this stack in the bucket, by replica."""
    by = {}
    for bid, meta in stack.world.blocks().items():
        labels = meta.get("thanos", {}).get("labels", {})
        if labels.get("prometheus") == f"{NS}/{stack.name}" and meta["thanos"].get("source") == "sidecar" \
                and meta["compaction"]["level"] == 1 and ulid_ms(bid) >= after:
            by.setdefault(labels.get(REPLICA_LABEL), []).append(meta)
    return by


def sidecars_upload(stack, started):
    def both():
        by = uploads(stack, started)
        return by if len(by) == 2 and all(by.values()) else None

    by = until(f"both sidecars of {stack.name} upload a block", 330, both, 10)
    pods = sorted(p.name for p in stack.pods("prometheus"))
    assert sorted(by) == pods, f"block labels name replicas {sorted(by)}, pods are {pods}"
    return ", ".join(f"{r}: {len(m)} blocks" for r, m in sorted(by.items()))


def config_reload(stack):
    """A changed user ConfigMap reaches both running Prometheus replicas without a restart."""
    world = stack.world
    before = {p.name: p.uid for p in stack.pods("prometheus")}
    # No wait for the reloader: when its first check cannot see a reload (see ACCEPTED_ERRORS), it
    # watches 30s after the sidecar's start (the rendered --reloader.watch-interval) and signals again
    # at its next tick, so a change made meanwhile is loaded within the 120s below. With Thanos's
    # default of 3m it could take 6 minutes.
    config = yaml.safe_load(stack.configmap["data"]["prometheus.yml"])
    config["scrape_configs"].append({"job_name": "reload-check", "static_configs": [{"targets": ["localhost:9090"]}]})
    stack.configmap["data"]["prometheus.yml"] = yaml.safe_dump(config)
    kubectl("apply", "--server-side", "-f", "-", stdin=objects_yaml([stack.configmap]))
    stack.apply()

    def reloaded():
        for pod in stack.pods("prometheus"):
            status, body = world.runner.http(f"http://{pod.ip}:9090/api/v1/status/config")
            if status != 200 or "reload-check" not in json.loads(body)["data"]["yaml"]:
                return None
        return True

    until("both replicas load the changed configuration", 120, reloaded, 3)
    after = {p.name: p.uid for p in stack.pods("prometheus")}
    assert after == before, f"the pods were replaced instead of reloaded: {before} -> {after}"
    for pod in stack.pods("prometheus"):
        sidecar = [c for c in pod.containers if c.name == "thanos-sidecar"][0]
        with open(sidecar.log_path, encoding="utf-8") as f:
            assert "Reload triggered" in f.read(), f"{pod.name}: the sidecar's log shows no reload"
    return "both replicas reloaded by the sidecar's signal, no pod replaced"


def replica_down(stack):
    """One Prometheus replica stopped: queries keep answering, the down alert goes pending."""
    world = stack.world
    victim = stack.pods("prometheus")[1].name
    world.runner.halt(victim)
    try:
        until("the DNS drops the stopped replica", 30,
              lambda: len(world.runner.on_node(rn.resolve, f"{stack.name}-thanos-peers", NS)) == 1, 2)
        series = until("up through the frontend with one replica", 60,
                       lambda: stack.query("thanos-query-frontend", "up"), 3)
        wait_alert(stack, "PrometheusReplicaComponentDown", {"job": "promrep-prometheus"})
        return f"{victim} stopped: the frontend still answers {len(series)} series; down alert pending"
    finally:
        world.runner.resume(victim)


def store_down(stack):
    world = stack.world
    victim = stack.pods("store")[0].name
    world.runner.halt(victim)
    try:
        wait_alert(stack, "PrometheusReplicaComponentDown", {"job": "promrep-store"})
        return f"{victim} stopped: the store's down alert pending"
    finally:
        world.runner.resume(victim)


def object_store_down(world, stack):
    """The object store unreachable: the bucket alert goes pending; when it is back, the blocks
    cut meanwhile are uploaded (nothing lost)."""
    before = {bid for metas in uploads(stack).values() for bid in (m["ulid"] for m in metas)}
    world.network.link(rn.PREFIX + "minio", False)
    down_at = time.time()
    try:
        wait_alert(stack, "ThanosBucketOperationsFailing", None, 240)
    finally:
        world.network.link(rn.PREFIX + "minio", True)
    outage = time.time() - down_at

    # Every block either replica cut (on its claim) is in the bucket again.
    def complete():
        in_bucket = {m["ulid"] for metas in uploads(stack).values() for m in metas}
        local = set()
        for pod in stack.pods("prometheus"):
            claim = pod.volumes["data"]
            local |= {d for d in os.listdir(claim) if re.fullmatch(r"[0-9A-Z]{26}", d)}
        return (local, in_bucket) if local and local <= in_bucket else None

    local, in_bucket = until("every local block is uploaded after the outage", 120, complete, 10)
    new = in_bucket - before
    return f"outage {outage:.0f}s; {len(local)} local blocks all in the bucket, {len(new)} uploaded since the outage began"


def store_serves_history(stack):
    """The store gateway, restarted so that it loads the uploaded blocks, answers a range query
    on its own (the querier asked through storeMatch[] for the store gateway only)."""
    world = stack.world
    restart_store(stack)
    querier = stack.url("thanos-query", 10902)
    end = time.time()
    result = until("the store gateway answers for the uploaded range", 120, lambda: world.query(
        querier, f'count by ({REPLICA_LABEL}) (up{{prometheus="{NS}/{stack.name}"}})', path="/api/v1/query_range",
        start=end - 1800, end=end, step=30, dedup="false", **store_only(stack)), 5)
    replicas = sorted(s["metric"].get(REPLICA_LABEL, "") for s in result)
    assert len(replicas) == 2, f"the store gateway serves blocks of {replicas}, expected both replicas"
    return f"the store gateway alone returns data of {replicas}"


def store_only(stack):
    """The querier parameter that limits a query to the stack's store gateways."""
    ips = "|".join(p.ip for p in stack.pods("store"))  # a dot matching any character is harmless here
    return {"storeMatch[]": [f'{{__address__=~"({ips}):10901"}}']}


def successor_ready(stack, old):
    """Whether the pod that replaced the store gateway OLD (same name, another uid) is ready."""
    return any(p.name == old.name and p.uid != old.uid and p.ready() for p in stack.pods("store"))


def restart_store(stack):
    old = stack.pods("store")[0]
    kubectl("delete", "pod", "-n", NS, old.name, "--wait=false")
    until(f"a new {old.name} is ready", 120, lambda: successor_ready(stack, old), 2)


def store_restart_no_gap(stack):
    """One of two store gateways restarts: the querier answers for the history only the bucket
    holds (the promtool blocks, a day old) all along, with every sample (no gap)."""
    stores = stack.pods("store")
    assert len(stores) == 2, f"expected 2 store gateways, found {[p.name for p in stores]}"
    end = time.time()

    def samples():
        result = stack.world.query(stack.url("thanos-query", 10902), "count(stack_backfill)",
                                   path="/api/v1/query_range", start=end - 2 * 86400, end=end, step=600)
        return sum(len(s["values"]) for s in result)

    want = until("the history through the querier", 60, samples, 5)
    old = stores[0]
    kubectl("delete", "pod", "-n", NS, old.name, "--wait=false")
    answers, short = 0, []
    deadline = time.time() + 180
    while True:
        got = samples()
        answers += 1
        if got != want:
            short.append(got)
        # Until its successor is ready: the drain, the stop and the new pod's start.
        if successor_ready(stack, old):
            break
        assert time.time() < deadline, f"{old.name} was not replaced in 180s"
        time.sleep(0.5)
    assert not short, f"{len(short)} of {answers} answers lacked samples during the restart: {short[:5]} of {want}"
    return f"{answers} answers during {old.name}'s restart, each with all {want} samples"


def frontend_cache(stack):
    """A range query answered twice through the frontend: the second answer comes from its results
    cache (its hit counter rises, the answer is the same), and how much faster it is."""
    world = stack.world
    frontend = stack.url("thanos-query-frontend", 10902)
    pod = stack.pods("query-frontend")[0]

    def hits():
        # Every frontend replica's counter: the Service may send either query to either pod.
        total = 0.0
        for p in stack.pods("query-frontend"):
            status, body = world.runner.http(f"http://{p.ip}:10902/metrics")
            assert status == 200, f"{p.name} /metrics: HTTP {status}"
            total += sum(float(v) for v in re.findall(r"^cortex_cache_hits_total\{[^}]*\} (\S+)$", body.decode(), re.M))
        return total

    # Ending before the frontend's freshness window (1m), so that the whole answer is cacheable, and
    # starting after the stack did, so that it has data.
    end = int(time.time()) // 15 * 15 - 120
    params = dict(path="/api/v1/query_range", start=end - 300, end=end, step=15)
    promql = f"count by (job) (up) + 0 * {int(time.time())}"  # a query no one asked before
    before = hits()
    t0 = time.monotonic()
    first = world.query(frontend, promql, **params)
    t1 = time.monotonic()
    second = world.query(frontend, promql, **params)
    t2 = time.monotonic()
    after = hits()
    assert first and second == first, f"the answers differ: {first[:1]} / {second[:1]}"
    assert after > before, f"cortex_cache_hits_total stayed at {before} on {pod.name} and its peers"
    ratio = (t2 - t1) / (t1 - t0)
    findings.append(f"frontend cache: the cached answer took {ratio:.2f} of the first's time "
                    f"({(t2 - t1) * 1000:.0f} ms against {(t1 - t0) * 1000:.0f} ms)")
    return f"hits {before:.0f} -> {after:.0f}; the second answer took {ratio:.2f} of the first's time"


def metric_sum(world, pods, metric, port=10902, **labels):
    """The sum over PODS of the samples of METRIC whose labels include LABELS."""
    total = 0.0
    for p in pods:
        status, body = world.runner.http(f"http://{p.ip}:{port}/metrics")
        assert status == 200, f"{p.name} /metrics: HTTP {status}"
        for m in re.finditer(rf"^{metric}(\{{[^}}]*\}})? (\S+)$", body.decode(), re.M):
            if all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
                total += float(m.group(2))
    return total


def retention_limit(stack):
    """Each running Prometheus applies the size limit the hook rendered (metrics.retentionSize, by
    default 80% of its volume): its prometheus_tsdb_retention_limit_bytes is the flag's bytes."""
    out = []
    for pod in stack.pods("prometheus"):
        args = [a for c in pod.obj["spec"]["containers"] if c["name"] == "prometheus" for a in c.get("args", [])]
        flag = next((a.split("=", 1)[1] for a in args if a.startswith("--storage.tsdb.retention.size=")), None)
        assert flag, f"{pod.name} has no --storage.tsdb.retention.size"
        number, unit = re.fullmatch(r"(\d+)([KMGTPE]?B)", flag).groups()
        want = int(number) * 1024 ** "BKMGTPE".index(unit[0] if len(unit) == 2 else "B")
        got = metric_sum(stack.world, [pod], "prometheus_tsdb_retention_limit_bytes", port=9090)
        assert got == want, f"{pod.name}: prometheus_tsdb_retention_limit_bytes {got:.0f}, rendered {flag} ({want})"
        out.append(f"{pod.name} {flag} = {want} bytes")
    return "; ".join(out)


def offline_dedup(world, ids):
    """The compactor with offline deduplication merges two blocks that differ only in the replica
    label into one block whose labels no longer carry it, and marks both for deletion."""
    def merged():
        for bid, meta in world.blocks().items():
            if bid not in ids and set(ids) <= set(meta["compaction"].get("sources", [])):
                return bid, meta
        return None

    bid, meta = until("the compactor merges the replicas' blocks", 240, merged, 10)
    labels = meta["thanos"]["labels"]
    assert REPLICA_LABEL not in labels, f"the merged block {bid} still has {labels}"
    assert labels == {"prometheus": f"{NS}/example"}, f"the merged block {bid} has {labels}"
    # The replicas scraped the same samples: one copy is kept, not two.
    assert meta["stats"]["numSamples"] == DEDUP_SAMPLES, \
        f"the merged block {bid} has {meta['stats']['numSamples']} samples, each replica's {DEDUP_SAMPLES}"
    until("both source blocks are marked for deletion", 60, lambda: set(ids) <= world.deletion_marked(), 5)
    return f"block {bid} from {len(ids)} replicas' blocks: labels {labels}, {DEDUP_SAMPLES} samples"


def store_shards(stack, ids, start, samples):
    """Each store gateway shard serves the blocks of the stack whose id hashes to its index: the
    shards' sets are disjoint and non-empty and together all of the stack's blocks; the querier
    answers the day-old history from the store gateways alone with every sample (no gap)."""
    world = stack.world
    own = f"{NS}/{stack.name}"

    def blocks_of_stack():
        return {bid for bid, meta in world.blocks().items() if meta.get("thanos", {}).get("labels", {}).get("prometheus") == own}

    # Restarted together, so that each loads every block in the bucket now (a store gateway looks
    # for new blocks every 15 minutes).
    before = blocks_of_stack()
    assert set(ids) <= before, f"the bucket lacks the promtool blocks {set(ids) - before}"
    old = {p.name: p.uid for p in stack.pods("store")}
    assert len(old) == 2 * OTHER_SHARDS, f"expected {2 * OTHER_SHARDS} store gateways, found {sorted(old)}"
    for name in old:
        kubectl("delete", "pod", "-n", NS, name, "--wait=false")

    def replaced():
        pods = stack.pods("store")
        return len(pods) == len(old) and all(p.uid != old.get(p.name) and p.ready() for p in pods)

    until("every store gateway replaced and ready", 180, replaced, 2)
    after = blocks_of_stack()

    def loaded(pod):
        status, body = world.runner.http(f"http://{pod.ip}:10902/api/v1/blocks?view=loaded")
        assert status == 200, f"{pod.name} /api/v1/blocks: HTTP {status}"
        return json.loads(body)["data"]["blocks"] or None

    served = {}
    for pod in stack.pods("store"):
        shard = int(pod.obj["metadata"]["labels"][SHARD_LABEL])
        blocks = until(f"{pod.name} lists its loaded blocks", 60, lambda pod=pod: loaded(pod), 3)
        foreign = [b["ulid"] for b in blocks if b["thanos"]["labels"].get("prometheus") != own]
        assert not foreign, f"{pod.name} serves blocks of other stacks: {foreign}"
        served.setdefault(shard, set()).update(b["ulid"] for b in blocks)
    assert sorted(served) == list(range(OTHER_SHARDS)), f"shards with pods: {sorted(served)}"
    for shard, blocks in served.items():
        wrong = sorted(b for b in blocks if hashmod(b, OTHER_SHARDS) != shard)
        assert not wrong, f"shard {shard} serves blocks of another shard: {wrong}"
    union = set().union(*served.values())
    assert sum(len(b) for b in served.values()) == len(union), "a block is served by two shards"
    # The store gateways list the bucket through memcached's caching bucket, which keeps a listing for 5
    # minutes (Thanos's blocks_iter_ttl): a block uploaded since the first of them started may be missing
    # after the restart. Every block that was there before the stack started must be served.
    assert set(ids) <= union <= after, (f"the shards serve {len(union)} blocks; the stack's blocks from before it "
                                        f"started missing: {sorted(set(ids) - union)}")
    # The history only the bucket holds, from the store gateways alone: every sample of the promtool
    # blocks, wherever the shards put them.
    at = start + 36000
    querier = stack.url("thanos-query", 10902)

    def count():
        # The querier finds the new pods at its next DNS resolution and endpoint update (up to 20 s): until
        # then it answers from the shards it knows.
        result = world.query(querier, "count_over_time(stack_backfill[12h])", time=at, **store_only(stack))
        got = int(float(result[0]["value"][1])) if result else 0
        assert got == samples, f"the querier returns {got} samples of the promtool blocks, they hold {samples}"
        return got

    got = until("the history through the querier from the store gateways", 60, count, 3)
    sizes = ", ".join(f"shard {s}: {len(b)} blocks" for s, b in sorted(served.items()))
    return (f"{sizes}, disjoint, together {len(union)} of the stack's {len(before)} in the bucket; {got} of "
            f"{samples} samples through the querier")


def memcached_stats(ip):
    """memcached's own counters (`stats`), asked from the node."""
    with socket.create_connection((ip, 11211), 5) as conn:
        conn.sendall(b"stats\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    return {parts[1]: parts[2] for parts in (line.split() for line in data.decode().splitlines()) if len(parts) == 3}


def memcached_caches(stack):
    """With memcached.enabled, the frontend's results cache and the store gateways' index and
    bucket caches use memcached: a range query asked twice through the frontend is answered from
    memcached the second time, the store gateways' memcached clients set and get, and memcached
    itself counts the items and hits."""
    world = stack.world
    frontend = stack.url("thanos-query-frontend", 10902)
    frontends, stores = stack.pods("query-frontend"), stack.pods("store")
    end = int(time.time()) // 15 * 15 - 120
    params = dict(path="/api/v1/query_range", start=end - 2 * 86400, end=end, step=600)
    promql = f"count(stack_backfill) + 0 * {int(time.time())}"  # a query no one asked before
    hits = lambda: metric_sum(world, frontends, "cortex_cache_hits_total")  # noqa: E731
    before = hits()
    first = world.query(frontend, promql, **params)
    # The frontend writes to memcached in the background: wait for the write.
    until("the frontend stores the answer in memcached", 30, lambda: metric_sum(
        world, frontends, "cortex_memcache_request_duration_seconds_count", method="Memcache.Put", status_code="200"), 2)
    second = world.query(frontend, promql, **params)
    assert first and second == first, f"the answers differ: {first[:1]} / {second[:1]}"
    after = hits()
    assert after > before, f"cortex_cache_hits_total of the frontends stayed at {before}"
    gets = metric_sum(world, frontends, "cortex_memcache_request_duration_seconds_count", method="Memcache.GetMulti",
                      status_code="200")
    assert gets > 0, "the frontends made no successful memcached GetMulti"
    caches = {}
    for cache in ("index-cache", "caching-bucket"):
        ops = {op: metric_sum(world, stores, "thanos_memcached_operations_total", name=cache, operation=op)
               for op in ("set", "getmulti")}
        assert ops["set"] > 0 and ops["getmulti"] > 0, f"the store gateways' {cache} memcached operations: {ops}"
        caches[cache] = ops
    stats = [world.runner.on_node(memcached_stats, p.ip) for p in stack.pods("memcached")]
    total = {k: sum(int(s.get(k, 0)) for s in stats) for k in ("cmd_set", "get_hits", "curr_items")}
    assert all(total.values()), f"memcached's own counters over {len(stats)} pods: {total}"
    return (f"frontend hits {before:.0f} -> {after:.0f}, {gets:.0f} memcached gets; store gateways "
            + ", ".join(f"{c} set {o['set']:.0f} get {o['getmulti']:.0f}" for c, o in caches.items())
            + f"; memcached {total}")


def shared_bucket_own_blocks(stacks):
    """Both stacks write one bucket: each store gateway serves the blocks of its own stack alone
    (its --selector.relabel-config), though the bucket holds both stacks' blocks."""
    lines = []
    in_bucket = sorted({m.get("thanos", {}).get("labels", {}).get("prometheus")
                        for m in stacks[0].world.blocks().values()} - {None})
    assert len(in_bucket) == len(stacks), f"the bucket holds blocks of {in_bucket}"
    for stack in stacks:
        if stack.name != "example":  # example's store gateway was restarted just before
            restart_store(stack)
        end = time.time()
        q = urllib.parse.urlencode({"start": end - 2 * 86400, "end": end, **store_only(stack)}, doseq=True)

        def seen(stack=stack, q=q):
            status, body = stack.world.runner.http(
                stack.url("thanos-query", 10902, f"/api/v1/label/prometheus/values?{q}"))
            assert status == 200, f"label values: HTTP {status}"
            return sorted(json.loads(body)["data"]) or None

        values = until(f"{stack.name}'s store gateway serves blocks", 120, seen, 5)
        assert values == [f"{NS}/{stack.name}"], f"{stack.name}'s store gateway serves series of prometheus={values}"
        lines.append(f"{stack.name}'s store gateway serves {values}")
    return f"the bucket holds {in_bucket}; " + "; ".join(lines)


def upgraded_querier(stack):
    """The querier of a stack that was running with the former default replica label (the
    scenario installs that querier first, as the operator rendered it before): it deduplicates on
    prometheus_replica and on replica, and the promtool blocks, uploaded with replica=..., come
    back without it (deduplicated), and with it when asked not to deduplicate."""
    pods = stack.pods("query")
    assert pods, "no querier pod"
    for pod in pods:
        args = [a for c in pod.obj["spec"]["containers"] for a in c.get("args", [])]
        labels = [a.split("=", 1)[1] for a in args if a.startswith("--query.replica-label=")]
        assert labels == [REPLICA_LABEL, "replica"], f"{pod.name} deduplicates on {labels}"
    end = time.time()

    def series(dedup):
        result = stack.world.query(stack.url("thanos-query", 10902), "stack_backfill", path="/api/v1/query_range",
                                   start=end - 2 * 86400, end=end, step=3600, dedup=dedup)
        return result or None

    deduplicated = until("the old blocks through the querier", 120, lambda: series("true"), 5)
    assert all("replica" not in s["metric"] for s in deduplicated), [s["metric"] for s in deduplicated]
    raw = series("false")
    assert raw and all(s["metric"].get("replica") == "example-prometheus-0" for s in raw), [s["metric"] for s in raw]
    return f"deduplicates on {labels}; old blocks' replica label stripped only with dedup"


def own_replica_label(stack):
    """A target's own `replica` label reaches the querier's answer: the operator's replica label
    no longer overwrites it, and the querier deduplicates the two Prometheus replicas' series."""
    series = until("the labelled job through the frontend", 90, lambda: (
        lambda r: r or None)(stack.query("thanos-query-frontend", 'up{job="labelled"}')), 5)
    metrics = [s["metric"] for s in series]
    assert len(metrics) == 1 and metrics[0].get("replica") == "blue", f"up{{job=\"labelled\"}}: {metrics}"
    return f"{metrics[0]}"


def secret_roll(world, stack):
    """A changed bucket Secret rolls the pods that read it, and the new sidecars use it."""
    world.s3(lambda c: c.create_bucket(Bucket=ROLLED_BUCKET))
    before = {p.name: p.uid for p in stack.pods("prometheus")}
    stack.secret["stringData"]["s3_bucket"] = ROLLED_BUCKET
    kubectl("apply", "--server-side", "-f", "-", stdin=objects_yaml([stack.secret]))
    stack.apply()

    def rolled():
        pods = stack.pods("prometheus")
        fresh = [p for p in pods if before.get(p.name) != p.uid and p.ready()]
        return fresh if len(fresh) == 2 else None

    pods = until("both Prometheus pods replaced and ready", 240, rolled, 3)
    for pod in pods:
        def uses_new(pod=pod):
            status, body = world.runner.http(f"http://{pod.ip}:10902/metrics")
            return status == 200 and f'bucket="{ROLLED_BUCKET}"' in body.decode()

        until(f"{pod.name}'s sidecar uses bucket {ROLLED_BUCKET}", 60, uses_new, 3)
    return f"{[p.name for p in pods]} replaced; their sidecars use {ROLLED_BUCKET}"


def dashboard_queries(stack):
    """Every query of the rendered Grafana dashboard returns data through the rendered datasource."""
    world = stack.world
    cms = {c["metadata"]["name"]: c for c in stack.children if c["kind"] == "ConfigMap"}
    ds_doc = next(iter(cms[f"{stack.name}-grafana-datasources"]["data"].values()))
    ds = (json.loads(ds_doc) if ds_doc.lstrip().startswith("{") else yaml.safe_load(ds_doc))["datasources"][0]
    url = urllib.parse.urlparse(ds["url"])
    host = url.hostname
    ips = world.runner.on_node(rn.resolve, host, NS)
    assert ips, f"the datasource's host {host} does not resolve"
    base = f"http://{ips[0]}:{url.port}{url.path.rstrip('/')}"
    dash = json.loads(next(iter(cms[f"{stack.name}-grafana-dashboards"]["data"].values())))
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", []) if t.get("expr")]
    empty = []
    for expr in exprs:
        q = (expr.replace("$__rate_interval", "1m").replace("$__interval", "30s")
             .replace("$__range", "5m"))
        q = re.sub(r"\$\{?\w+\}?", ".*", q)
        end = time.time()
        result = world.query(base, q, path="/api/v1/query_range", start=end - 600, end=end, step=30)
        if not result:
            empty.append(expr)
    assert not empty, f"{len(empty)} of {len(exprs)} dashboard queries return nothing: {empty}"
    return f"{len(exprs)} queries return data through {ds['url']}"


def steady_errors(world, stacks, since, until_t):
    """No container of STACKS logged an error between SINCE and UNTIL_T, but the accepted ones."""
    bad = []
    accepted = 0
    for stack in stacks:
        for pod in stack.pods():
            for c in pod.containers:
                with open(c.log_path, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        if not re.search(r"level=(error|ERROR)", line):
                            continue
                        ts = log_time(line)
                        if ts is None or not (since <= ts <= until_t):
                            continue
                        if any(p.search(line) for p, _ in ACCEPTED_ERRORS):
                            accepted += 1
                            continue
                        bad.append(f"{pod.name}/{c.name}: {line.strip()[:300]}")
    assert not bad, f"{len(bad)} error lines in steady state, first: {bad[:5]}"
    return f"none in {until_t - since:.0f}s ({accepted} accepted)"


def log_time(line):
    m = re.search(r"\b(?:ts|time)=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:\d\d)", line)
    if not m:
        return None
    stamp = m.group(1)
    if "." in stamp:
        stamp = stamp[:26]
    tz = "+00:00" if m.group(2) == "Z" else m.group(2)
    return datetime.datetime.fromisoformat(stamp + tz).timestamp()


def restarts(world, stacks):
    crashed = []
    for stack in stacks:
        for pod in stack.pods():
            for c in pod.containers:
                unexpected = [e for e in c.exits if e[1] not in (0, 143, -15, -9, 137)]
                if c.restarts or unexpected:
                    crashed.append(f"{pod.name}/{c.name}: {c.restarts} restarts, exits {unexpected}")
    assert not crashed, f"containers that did not stay up: {crashed}"
    return f"{sum(len(s.pods()) for s in stacks)} pods, no restart"


def main(argv):
    # A TERM (hack/stack-local.sh stopping) unwinds through the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    hook, bins, state = argv[1:4]
    world = World(os.path.abspath(hook), os.path.abspath(bins), os.path.abspath(state))
    try:
        return scenario(world)
    finally:
        world.stop()
        passed = sum(1 for _, ok in results if ok)
        for f in findings:
            log(f"finding: {f}")
        print(f"stack: {passed} passed, {len(results) - passed} failed", flush=True)


def scenario(world):
    world.start()
    world.s3(lambda c: c.create_bucket(Bucket=BUCKET))
    kubectl("create", "namespace", NS)
    kubectl("label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted")

    with open(os.path.join(REPO, "deploy/examples/prometheusreplica.yaml"), encoding="utf-8") as f:
        example_spec = yaml.safe_load(f)["spec"]
    example_spec["metrics"]["blockDuration"] = BLOCK
    example_spec["configMap"] = "example-config"
    example_spec["compact"] = {"deduplication": True}
    with open(os.path.join(REPO, "deploy/examples/s3-bucket.yaml"), encoding="utf-8") as f:
        example_secret = yaml.safe_load(f)
    example_secret["metadata"]["namespace"] = NS
    example = Stack(world, "example", example_spec, example_secret)
    # `other` runs the oldest Prometheus and Thanos the operator supports.
    versions = pins()
    other_spec = {"configMap": "other-config", "bucketSecret": "other-objstore", "highlyAvailable": True,
                  "metrics": {"retention": "24h", "blockDuration": BLOCK}, "compact": {"enabled": False},
                  "store": {"shards": OTHER_SHARDS}, "memcached": {"enabled": True},
                  "images": {"prometheus": image("prometheus-oldest", versions["prometheus-oldest"]),
                             "thanos": image("thanos-oldest", versions["thanos-oldest"])}}
    objstore = (f"type: S3\nconfig:\n  bucket: {BUCKET}\n  endpoint: minio.minio.svc:9000\n"
                "  access_key: other\n  secret_key: other-secret-key\n")
    other = Stack(world, "other", other_spec, secret("other-objstore", {"objstore.yml": objstore}))
    # A target with a `replica` label of its own, which the querier must keep.
    config = yaml.safe_load(other.configmap["data"]["prometheus.yml"])
    config["scrape_configs"].append({"job_name": "labelled", "static_configs": [
        {"targets": ["localhost:9090"], "labels": {"replica": "blue"}}]})
    other.configmap["data"]["prometheus.yml"] = yaml.safe_dump(config)
    stacks = [example, other]

    old_ids, dedup_ids, other_old = [], [], {}
    check("old blocks of example in the bucket (promtool, ids an hour old)", lambda: (
        old_ids.extend(old_blocks(world, {"prometheus": f"{NS}/example", "replica": "example-prometheus-0"})[0][:4])
        or f"{len(old_ids)} blocks"))
    check("a block of both example replicas in the bucket (promtool, the replica label apart)", lambda: (
        dedup_ids.extend(dedup_blocks(world, "example")) or f"{dedup_ids}"))

    def other_blocks():
        ids, start, samples = old_blocks(world, {"prometheus": f"{NS}/other", REPLICA_LABEL: "other-prometheus-0"},
                                         OTHER_SHARDS)
        other_old.update(ids=ids, start=start, samples=samples)
        shards = sorted(hashmod(i, OTHER_SHARDS) for i in ids)
        return f"{len(ids)} blocks, {samples} samples, in shards {shards}"

    check("old blocks of other in the bucket, in both of its shards", other_blocks)

    for s in stacks:
        kubectl("apply", "--server-side", "-f", "-", stdin=objects_yaml([s.configmap, s.secret]))
    started = int(time.time() * 1000) - 60000
    # example is upgraded from an operator that deduplicated on `replica`: its querier is there first.
    example.install_former_querier()
    for s in stacks:
        s.apply()

    if not check("every pod starts and turns ready", all_ready, world, stacks):
        return 1
    ready_at = time.time()
    for s in stacks:
        check(f"{s.name}: distinct external labels per replica", distinct_external_labels, s)
        check(f"{s.name}: the querier sees both sidecars and the store gateway", querier_sees_everything, s)
    for s in stacks:
        check(f"{s.name}: up through querier and frontend, deduplicated", up_deduplicated, s)
    check("every readiness and liveness probe answered 200", probes_answer, world)
    check("example: the upgraded querier deduplicates old blocks on the former replica label", upgraded_querier, example)
    check("other: a target's own replica label survives the querier", own_replica_label, other)
    check("example: alerts silent, every selector matches series", alerts_silent_and_grounded, example)
    check("example: the compactor compacts blocks older than its consistency delay", compaction, world, old_ids)
    check("example: the compactor has not halted", compactor_not_halted, example)
    check("example: offline deduplication merges the replicas' blocks", offline_dedup, world, dedup_ids)
    for s in stacks:
        check(f"{s.name}: Prometheus applies the rendered size limit of its TSDB", retention_limit, s)
    check("example: a changed ConfigMap reaches both running replicas", config_reload, example)
    check("other: one replica down keeps queries answering, its alert pending", replica_down, other)
    check("other: the store gateway down raises its alert", store_down, other)
    check("other: each store gateway shard serves its own blocks, together all of them", store_shards, other,
          other_old.get("ids", []), other_old.get("start", 0), other_old.get("samples", 0))
    check("other: the frontend and the store gateways cache in memcached", memcached_caches, other)
    for s in stacks:
        check(f"{s.name}: both sidecars upload blocks carrying their labels", sidecars_upload, s, started)
    steady_end = time.time()
    check("example: no error logged in steady state", steady_errors, world, [example], ready_at + 20, steady_end)
    check("example: no container restarted", restarts, world, [example])
    check("example: the dashboard's queries return data", dashboard_queries, example)
    check("example: a range query asked twice is answered from the frontend's cache", frontend_cache, example)
    check("example: object store outage raises the bucket alert, nothing lost", object_store_down, world, example)
    check("example: the store gateway serves uploaded blocks alone", store_serves_history, example)
    check("example: one of two store gateways restarts, the history has no gap", store_restart_no_gap, example)
    check("shared bucket: each store gateway serves its own stack's blocks alone", shared_bucket_own_blocks, stacks)
    check("example: a changed bucket Secret reaches the sidecars after the roll", secret_roll, world, example)
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
