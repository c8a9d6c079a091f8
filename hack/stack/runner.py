"""The pod runner of the stack-in-motion run: what a kubelet, a CNI plugin, cluster DNS and an
object store do for the stack's Pods, as plain processes on this machine. Test infrastructure only.

Where the Pods come from: the real API server. The harness applies the hook's rendered children
to the e2e control plane (hack/control-plane.sh), whose StatefulSet and ReplicaSet controllers
create the Pods, and this runner runs each Pod exactly as the API server stores it: defaulted,
admitted by Pod Security `restricted`, with the names, hostnames and subdomains the controllers
gave it, and rolled by the controllers when a template changes. Rendering Pods ourselves from the
templates would run what we think a kubelet gets; this runs what it gets. kwok owns the Pods'
status (it marks them Running and Ready and assigns their IPs); this runner reports its own
probe results in its journal and in DNS instead, as kube-dns publishes only ready endpoints.

What it does for each Pod (kubelet semantics, each with the place it differs):
- a sandbox: one process holding the Pod's network, UTS (hostname) and PID namespaces, so that
  `shareProcessNamespace` works as it does in a cluster (the sidecar finds Prometheus by name);
- network: the Pod's IP (from kwok) on a veth whose other end is on a bridge in a namespace of
  its own; nothing routes anywhere else, and the host's namespace has no address on it;
- each container (container.py): the image's entrypoint (the binary built from the pinned Go
  module of the image's tag; memcached's is Debian's, with the machine's shared libraries), `command`/`args` with `$(VAR)` expansion, env with `value`,
  `fieldRef`, `secretKeyRef`, `configMapKeyRef`, ConfigMap, Secret, projected, downwardAPI,
  emptyDir and claim volumes at their mount paths, a read-only root when asked, the Pod's user,
  group and fsGroup, no new privileges; restarted with the kubelet's back-off when it exits;
- ConfigMap and Secret volumes in the kubelet's layout (`..data` a symlink to a timestamped
  folder, swapped atomically), refreshed every poll (a kubelet takes up to a minute);
- deletion: a deleted Pod leaves DNS at once (kube-dns publishes no terminating endpoint), its
  containers' preStop sleeps run (no other hook is supported), then SIGTERM and SIGKILL after the
  grace period that is left (30 s at most here); a Pod that mounts one of its claims starts only
  after it stopped (kwok deletes the Pod object at once, where a kubelet would keep it);
- probes: HTTP GET or a TCP connect from a "node" namespace on the bridge, on the kubelet's
  schedule; a liveness
  failure restarts the container; readiness decides DNS;
- DNS (cluster.local): Services' A and SRV records as kube-dns answers them, with ready Pods only;
  a ClusterIP Service's name answers its ready Pods' addresses (there is no kube-proxy);
- a projected service-account token is a placeholder: nothing here calls the API server.
"""

import base64
import concurrent.futures
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import yaml
from dnslib import QTYPE, RR, A, SRV, DNSRecord, RCODE

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)

PREFIX = "prs-"
LAN = PREFIX + "lan"
NODE = PREFIX + "node"
NODE_IP = "10.96.0.2"
DNS_IP = "10.96.0.10"
DOMAIN = "cluster.local"
HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    print(f"stack: {msg}", flush=True)


def remember(state, kind, value):
    """Note a started process or a made namespace in STATE/started, so that hack/stack-local.sh
    can stop and remove them by PID and name even when this program is killed."""
    line = f"{kind} {value}"
    if kind == "pid":  # with its name, so that a PID used again by another program is left alone
        try:
            with open(f"/proc/{value}/comm", encoding="utf-8") as f:
                line += " " + f.read().strip()
        except OSError:
            return
    with open(os.path.join(state, "started"), "a", encoding="utf-8") as f:
        f.write(line + "\n")


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def enter_netns(name):
    """Move the calling thread into network namespace NAME (sockets it makes live there)."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


class Api:
    """GETs against the API server with the kubeconfig's client certificate."""

    def __init__(self, kubeconfig):
        with open(kubeconfig, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
        cluster = cfg["clusters"][0]["cluster"]
        user = cfg["users"][0]["user"]
        self.server = cluster["server"]
        self.ctx = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self.ctx.load_cert_chain(user["client-certificate"], user["client-key"])

    def get(self, path):
        try:
            with urllib.request.urlopen(self.server + path, context=self.ctx, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise


class Network:
    """A bridge in a namespace of its own, and namespaces with one address each on it."""

    def __init__(self, state):
        self.state = state
        self.veths = 0
        self.namespaces = []
        self.add(LAN)
        sh("ip", "-n", LAN, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", LAN, "link", "set", "br0", "up")

    def add(self, name, address=None):
        sh("ip", "netns", "del", name, check=False)
        sh("ip", "netns", "add", name)
        remember(self.state, "netns", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        if address:
            self.attach(name, address)

    def attach(self, name, address):
        self.veths += 1
        port = f"prsv{self.veths}"
        sh("ip", "-n", LAN, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name)
        sh("ip", "-n", LAN, "link", "set", port, "master", "br0", "up")
        sh("ip", "-n", name, "addr", "add", f"{address}/8", "dev", "eth0")
        sh("ip", "-n", name, "link", "set", "eth0", "up")

    def link(self, name, up):
        sh("ip", "-n", name, "link", "set", "eth0", "up" if up else "down")

    def remove(self, name):
        sh("ip", "netns", "del", name, check=False)
        if name in self.namespaces:
            self.namespaces.remove(name)

    def close(self):
        for name in reversed(list(self.namespaces)):
            self.remove(name)


class Dns:
    """Cluster DNS on DNS_IP:53 in a namespace of its own, answering from `records`."""

    def __init__(self, network):
        network.add(PREFIX + "dns", DNS_IP)
        self.records = {}  # lower-case name with a trailing dot -> {"A": [...], "SRV": [...]}
        self.queries = 0
        ready = threading.Event()
        threading.Thread(target=self.serve, args=(ready,), daemon=True).start()
        ready.wait(5)

    def serve(self, ready):
        enter_netns(PREFIX + "dns")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((DNS_IP, 53))
        ready.set()
        while True:
            data, peer = sock.recvfrom(4096)
            try:
                sock.sendto(self.answer(data), peer)
            except Exception as e:  # noqa: BLE001 - a bad packet must not stop the server
                log(f"dns: {e}")

    def answer(self, data):
        self.queries += 1
        request = DNSRecord.parse(data)
        reply = request.reply()
        q = request.q
        name = str(q.qname).lower()
        entry = self.records.get(name)
        if entry is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply.pack()
        qtype = QTYPE[q.qtype]
        if qtype == "A":
            for ip in entry.get("A", []):
                reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(ip), ttl=5))
        elif qtype == "SRV":
            for prio, weight, port, target in entry.get("SRV", []):
                reply.add_answer(RR(q.qname, QTYPE.SRV, rdata=SRV(prio, weight, port, target), ttl=5))
                for ip in self.records.get(target.lower(), {}).get("A", []):
                    reply.add_ar(RR(target, QTYPE.A, rdata=A(ip), ttl=5))
        return reply.pack()


def resolve(name, namespace, qtype="A"):
    """Ask the cluster DNS as a Pod of NAMESPACE would (search list, ndots:5). Call from NODE."""
    candidates = [name] if name.endswith(".") else []
    if not name.endswith("."):
        if name.count(".") < 5:
            candidates = [f"{name}.{s}." for s in search_list(namespace)] + [name + "."]
        else:
            candidates = [name + "."] + [f"{name}.{s}." for s in search_list(namespace)]
    for candidate in candidates:
        reply = DNSRecord.parse(DNSRecord.question(candidate, qtype).send(DNS_IP, 53, timeout=3))
        if reply.header.rcode == RCODE.NOERROR and reply.rr:
            return [str(rr.rdata) for rr in reply.rr]
    return []


def search_list(namespace):
    return [f"{namespace}.svc.{DOMAIN}", f"svc.{DOMAIN}", DOMAIN]


def expand(text, env):
    """Kubernetes' `$(VAR)` expansion: defined names are replaced, `$$` is a literal `$`."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            if text[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            if text[i + 1] == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    var = text[i + 2 : end]
                    out.append(env[var] if var in env else text[i : end + 1])
                    i = end + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


def field(pod, path):
    values = {
        "metadata.name": pod["metadata"]["name"],
        "metadata.namespace": pod["metadata"]["namespace"],
        "metadata.uid": pod["metadata"]["uid"],
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
        "status.podIP": pod["status"].get("podIP", ""),
        "status.hostIP": pod["status"].get("hostIP", ""),
    }
    if path in values:
        return values[path]
    for prefix in ("metadata.labels['", "metadata.annotations['"):
        if path.startswith(prefix):
            key = path[len(prefix) : -2]
            return pod["metadata"].get(prefix.split(".")[1].split("[")[0], {}).get(key, "")
    raise ValueError(f"fieldRef {path} is not supported by the runner")


class Container:
    def __init__(self, pod, spec):
        self.pod = pod
        self.spec = spec
        self.name = spec["name"]
        self.proc = None
        self.program_pid = None
        self.restarts = 0
        self.exits = []  # (time, code)
        self.next_start = 0.0
        self.ready = False
        self.started_at = None
        self.probes = {}  # kind -> {"next": t, "failures": n, "successes": n}
        self.log_path = os.path.join(pod.dir, f"{self.name}.log")


class Pod:
    def __init__(self, runner, obj):
        self.runner = runner
        self.obj = obj
        meta = obj["metadata"]
        self.name = meta["name"]
        self.namespace = meta["namespace"]
        self.uid = meta["uid"]
        self.ip = obj["status"]["podIP"]
        self.netns = PREFIX + self.uid[:8]
        self.dir = os.path.join(runner.state, "pods", f"{self.namespace}_{self.name}_{self.uid[:8]}")
        self.sandbox = None
        self.sandbox_pid = None
        self.halted = False
        self.volumes = {}  # volume name -> host path
        self.volume_data = {}  # volume name -> files written last
        spec = obj["spec"]
        self.containers = [Container(self, c) for c in spec["containers"]]
        sc = spec.get("securityContext", {})
        self.run_as_user = sc.get("runAsUser", 0)
        self.gid = sc.get("runAsGroup", 0)
        self.fs_group = sc.get("fsGroup")

    @property
    def hostname(self):
        return self.obj["spec"].get("hostname") or self.name

    def ready(self):
        return not self.halted and all(c.ready for c in self.containers)


class Runner:
    """Runs the Pods of NAMESPACES that the API server has, until close()."""

    def __init__(self, api, state, network, dns, binaries, namespaces, ca_bundle, extra_records):
        self.api = api
        self.state = state
        self.network = network
        self.dns = dns
        self.binaries = binaries  # image (repository:tag) -> {"path", "entry", "workdir", "libraries"}
        self.namespaces = namespaces
        self.ca_bundle = ca_bundle
        self.extra_records = extra_records
        self.pods = {}  # uid -> Pod
        self.terminating = {}  # uid -> (Pod, its thread): deleted, draining, then stopped
        self.closing = threading.Event()
        self.journal = []  # (time, pod, container, event, detail)
        self.lock = threading.RLock()
        self.stopping = False
        self.sync_error = None
        os.makedirs(os.path.join(state, "pods"), exist_ok=True)
        self.node = concurrent.futures.ThreadPoolExecutor(4, initializer=enter_netns, initargs=(NODE,))
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.prober = threading.Thread(target=self.probe_loop, daemon=True)
        self.thread.start()
        self.prober.start()

    def record(self, pod, container, event, detail=""):
        self.journal.append((time.time(), pod, container, event, detail))

    # -- the sync loop --------------------------------------------------------------------------
    def loop(self):
        while not self.stopping:
            try:
                self.sync()
                self.sync_error = None
            except Exception as e:  # noqa: BLE001 - keep running; the tests see sync_error
                self.sync_error = repr(e)
                log(f"runner: sync failed: {e!r}")
            time.sleep(1)

    def sync(self):
        seen = {}
        services = []
        for ns in self.namespaces:
            for obj in self.api.get(f"/api/v1/namespaces/{ns}/pods")["items"]:
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                if not obj["spec"].get("nodeName") or not obj["status"].get("podIP"):
                    continue
                seen[obj["metadata"]["uid"]] = obj
            services += self.api.get(f"/api/v1/namespaces/{ns}/services")["items"]
        with self.lock:
            for uid in list(self.pods):
                if uid not in seen:
                    self.terminate(self.pods.pop(uid))
            errors = []
            for uid, obj in seen.items():
                try:
                    self.sync_pod(uid, obj)
                except Exception as e:  # noqa: BLE001 - one pod's trouble must not stop the others
                    errors.append(f"{obj['metadata']['name']}: {e!r}")
            self.dns.records = self.records(services)
            if errors:
                raise RuntimeError("; ".join(errors))

    def sync_pod(self, uid, obj):
        pod = self.pods.get(uid)
        if pod is None:
            # A claim is mounted by one pod at a time: a StatefulSet's replacement waits for its predecessor
            # (kwok deletes a Pod at once; a kubelet would keep it until its containers stopped).
            if claims(obj) & {c for p, _ in self.terminating.values() for c in claims(p.obj)}:
                return
            pod = Pod(self, obj)
            if not self.write_volumes(pod):
                return
            self.pods[uid] = pod
            self.start_sandbox(pod)
        else:
            pod.obj = obj
            self.write_volumes(pod)
        if not pod.halted:
            for c in pod.containers:
                self.ensure_running(c)

    # -- DNS records ----------------------------------------------------------------------------
    def records(self, services):
        recs = {}

        def add(name, kind, value):
            recs.setdefault(name.lower(), {}).setdefault(kind, []).append(value)

        for name, ip in self.extra_records.items():
            add(name, "A", ip)
        pods = [p for p in self.pods.values() if p.ready()]
        for svc in services:
            meta, spec = svc["metadata"], svc["spec"]
            base = f"{meta['name']}.{meta['namespace']}.svc.{DOMAIN}."
            selector = spec.get("selector") or {}
            members = [
                p for p in pods
                if p.namespace == meta["namespace"] and selector
                and all(p.obj["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
            ]
            headless = spec.get("clusterIP") == "None"
            recs.setdefault(base.lower(), {})
            for p in members:
                add(base, "A", p.ip)
            for port in spec.get("ports", []):
                if not port.get("name"):
                    continue
                srv = f"_{port['name']}._{port.get('protocol', 'TCP').lower()}.{base}"
                recs.setdefault(srv.lower(), {})
                if not headless:
                    add(srv, "SRV", (0, 100, port["port"], base))
                    continue
                for p in members:
                    sub = p.obj["spec"].get("subdomain")
                    host = p.hostname if sub == meta["name"] else p.ip.replace(".", "-")
                    target = f"{host}.{base}"
                    add(srv, "SRV", (0, 100, target_port(p, port), target))
                    if p.ip not in recs.get(target.lower(), {}).get("A", []):
                        add(target, "A", p.ip)
        return recs

    # -- volumes --------------------------------------------------------------------------------
    def object(self, pod, kind, name):
        return self.api.get(f"/api/v1/namespaces/{pod.namespace}/{kind}/{name}")

    def volume_files(self, pod, vol):
        """The files of a ConfigMap, Secret, projected or downwardAPI volume, or None when
        a source it needs is missing (the kubelet does not start such a Pod)."""
        if "configMap" in vol or "secret" in vol:
            return self.source_files(pod, vol)
        if "projected" in vol:
            files = {}
            for src in vol["projected"]["sources"]:
                if "serviceAccountToken" in src:
                    files[src["serviceAccountToken"]["path"]] = b"stack-in-motion-placeholder-token"
                else:
                    more = self.source_files(pod, src)
                    if more is None:
                        return None
                    files.update(more)
            return files
        if "downwardAPI" in vol:
            return self.downward(pod, vol["downwardAPI"])
        return None

    def downward(self, pod, source):
        return {i["path"]: field(pod.obj, i["fieldRef"]["fieldPath"]).encode() for i in source["items"]}

    def source_files(self, pod, src):
        if "downwardAPI" in src:
            return self.downward(pod, src["downwardAPI"])
        if "configMap" in src:
            ref, kind = src["configMap"], "configmaps"
            obj = self.object(pod, kind, ref["name"])
            data = {k: v.encode() for k, v in (obj or {}).get("data", {}).items()}
        else:
            ref, kind = src["secret"], "secrets"
            obj = self.object(pod, kind, ref.get("secretName") or ref.get("name"))
            data = {k: base64.b64decode(v) for k, v in (obj or {}).get("data", {}).items()}
        if obj is None:
            return {} if ref.get("optional") else None
        if "items" in ref:
            files = {}
            for item in ref["items"]:
                if item["key"] not in data:
                    if ref.get("optional"):
                        continue
                    return None
                files[item["path"]] = data[item["key"]]
            return files
        return data

    def write_volumes(self, pod):
        """Make or refresh every volume of POD; False when one cannot be made yet."""
        for vol in pod.obj["spec"].get("volumes", []):
            name = vol["name"]
            if "emptyDir" in vol or "persistentVolumeClaim" in vol:
                if name in pod.volumes:
                    continue
                if "emptyDir" in vol:
                    path = os.path.join(pod.dir, "volumes", name)
                else:
                    claim = vol["persistentVolumeClaim"]["claimName"]
                    path = os.path.join(self.state, "claims", pod.namespace, claim)
                os.makedirs(path, exist_ok=True)
                if pod.fs_group is not None:
                    os.chown(path, -1, pod.fs_group)
                    os.chmod(path, 0o2775)
                pod.volumes[name] = path
                continue
            files = self.volume_files(pod, vol)
            if files is None:
                if name not in pod.volumes:
                    self.record(pod.name, "", "waiting", f"volume {name}: its source is missing")
                    return False
                continue
            if pod.volume_data.get(name) == files:
                continue
            self.swap(pod, name, files)
        return True

    def swap(self, pod, name, files):
        """The kubelet's atomic writer: files in a new ..<timestamp> folder, ..data swapped."""
        path = os.path.join(pod.dir, "volumes", name)
        os.makedirs(path, exist_ok=True)
        stamp = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
        new = os.path.join(path, stamp)
        os.makedirs(new)
        for rel, content in files.items():
            target = os.path.join(new, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(content)
            os.chmod(target, 0o644)
            if pod.fs_group is not None:
                os.chown(target, 0, pod.fs_group)
        old = os.path.realpath(os.path.join(path, "..data")) if os.path.islink(os.path.join(path, "..data")) else None
        tmp = os.path.join(path, "..data_tmp")
        os.symlink(stamp, tmp)
        os.rename(tmp, os.path.join(path, "..data"))
        for rel in files:
            top = rel.split("/")[0]
            link = os.path.join(path, top)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", top), link)
        for entry in os.listdir(path):
            link = os.path.join(path, entry)
            if not entry.startswith("..") and os.path.islink(link) and not os.path.exists(link):
                os.unlink(link)
        if old and os.path.isdir(old):
            shutil.rmtree(old)
        pod.volumes[name] = path
        pod.volume_data[name] = files
        self.record(pod.name, "", "volume", name)

    # -- sandboxes and containers ---------------------------------------------------------------
    def start_sandbox(self, pod):
        os.makedirs(pod.dir, exist_ok=True)
        self.network.add(pod.netns, pod.ip)
        pod.sandbox = subprocess.Popen(
            ["ip", "netns", "exec", pod.netns, "unshare", "--uts", "--pid", "--fork", "--kill-child",
             "sh", "-c", 'hostname "$0" && exec sleep infinity', pod.hostname],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(pod.dir, "sandbox.log"), "w"),
            start_new_session=True,
        )
        for _ in range(100):
            try:
                with open(f"/proc/{pod.sandbox.pid}/task/{pod.sandbox.pid}/children", encoding="utf-8") as f:
                    children = f.read().split()
                if children:
                    pid = int(children[0])
                    with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
                        if f.read().strip() == "sleep":
                            pod.sandbox_pid = pid
                            break
            except OSError:
                pass
            time.sleep(0.05)
        if pod.sandbox_pid is None:
            raise RuntimeError(f"the sandbox of {pod.name} did not start")
        remember(self.state, "pid", pod.sandbox_pid)
        self.record(pod.name, "", "sandbox", pod.ip)

    def etc(self, pod):
        meta = pod.obj["metadata"]
        sub = pod.obj["spec"].get("subdomain")
        fqdn = f"{pod.hostname}.{sub}.{meta['namespace']}.svc.{DOMAIN}" if sub else ""
        hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        hosts += f"{pod.ip}\t{fqdn + ' ' if fqdn else ''}{pod.hostname}\n"
        return {
            "hosts": hosts,
            "hostname": pod.hostname + "\n",
            "resolv.conf": f"search {' '.join(search_list(meta['namespace']))}\nnameserver {DNS_IP}\noptions ndots:5\n",
            "passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
            "group": "root:x:0:\nnobody:x:65534:\n",
            "nsswitch.conf": "hosts: files dns\n",
        }

    def env(self, pod, spec):
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME": pod.hostname}
        for e in spec.get("env", []):
            if "valueFrom" not in e:
                env[e["name"]] = expand(e.get("value", ""), env)
                continue
            src = e["valueFrom"]
            if "fieldRef" in src:
                env[e["name"]] = field(pod.obj, src["fieldRef"]["fieldPath"])
            elif "secretKeyRef" in src or "configMapKeyRef" in src:
                kind = "secrets" if "secretKeyRef" in src else "configmaps"
                ref = src.get("secretKeyRef") or src.get("configMapKeyRef")
                obj = self.object(pod, kind, ref["name"]) or {}
                value = obj.get("data", {}).get(ref["key"])
                if value is None:
                    if ref.get("optional"):
                        continue
                    raise RuntimeError(f"{pod.name}/{spec['name']}: env {e['name']}: {kind} {ref['name']} key {ref['key']} missing")
                env[e["name"]] = base64.b64decode(value).decode() if kind == "secrets" else value
            elif "resourceFieldRef" in src:
                env[e["name"]] = resource_value(spec, src["resourceFieldRef"])
            else:
                raise RuntimeError(f"{pod.name}/{spec['name']}: env {e['name']}: unsupported source {src}")
        return env

    def image(self, spec):
        binary = self.binaries.get(spec["image"])
        if binary is None:
            raise RuntimeError(f"image {spec['image']}: the runner has {sorted(self.binaries)}")
        return binary

    def ensure_running(self, c):
        if c.proc is not None:
            code = c.proc.poll()
            if code is None:
                return
            c.exits.append((time.time(), code))
            self.record(c.pod.name, c.name, "exited", str(code))
            c.proc = None
            c.program_pid = None
            c.ready = False
            c.probes = {}
            backoff = min(300, 10 * 2 ** min(len(c.exits) - 1, 5))
            c.next_start = time.time() + backoff
        if time.time() < c.next_start:
            return
        self.start_container(c)

    def start_container(self, c):
        pod, spec = c.pod, c.spec
        binary = self.image(spec)
        env = self.env(pod, spec)
        command = spec.get("command") or [binary["entry"]]
        args = [expand(a, env) for a in command[1:] + spec.get("args", [])]
        entry = expand(command[0], env)
        sc = spec.get("securityContext", {})
        uid = sc.get("runAsUser", pod.run_as_user)
        gid = sc.get("runAsGroup", pod.gid)
        groups = sorted({gid, *([pod.fs_group] if pod.fs_group is not None else [])})
        mounts = []
        for m in spec.get("volumeMounts", []):
            source = pod.volumes[m["name"]]
            if m.get("subPath"):
                source = os.path.join(source, m["subPath"])
            mounts.append({"source": source, "target": m["mountPath"], "readonly": bool(m.get("readOnly"))})
        pidfile = os.path.join(pod.dir, f"{c.name}.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        launch = {
            "sandbox_pid": pod.sandbox_pid,
            "root": os.path.join(pod.dir, f"{c.name}.root"),
            "binary": binary["path"],
            "entry": entry,
            "args": args,
            "env": env,
            "workdir": spec.get("workingDir") or binary.get("workdir") or "/",
            "libraries": bool(binary.get("libraries")),
            "uid": uid,
            "gid": gid,
            "groups": groups,
            "mounts": mounts,
            "etc": self.etc(pod),
            "ca_bundle": self.ca_bundle,
            "readonly_root": bool(sc.get("readOnlyRootFilesystem")),
            "pidfile": pidfile,
        }
        spec_path = os.path.join(pod.dir, f"{c.name}.json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(launch, f, indent=1)
        out = open(c.log_path, "a", encoding="utf-8")
        out.write(f"--- start {time.strftime('%H:%M:%S')}: {entry} {' '.join(args)}\n")
        out.flush()
        c.proc = subprocess.Popen(["python3", os.path.join(HERE, "container.py"), spec_path],
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        for _ in range(100):
            if os.path.exists(pidfile):
                with open(pidfile, encoding="utf-8") as f:
                    c.program_pid = int(f.read())
                break
            if c.proc.poll() is not None:
                break
            time.sleep(0.02)
        remember(self.state, "pid", c.proc.pid)
        if c.program_pid:
            remember(self.state, "pid", c.program_pid)
        c.started_at = time.time()
        if c.exits:
            c.restarts += 1
        self.record(pod.name, c.name, "started", str(c.program_pid))

    def signal_container(self, c, sig):
        if c.program_pid:
            try:
                os.kill(c.program_pid, sig)
            except ProcessLookupError:
                pass

    def stop_containers(self, pod, grace=None):
        if grace is None:
            grace = min(30, pod.obj["spec"].get("terminationGracePeriodSeconds", 30))
        for c in pod.containers:
            self.signal_container(c, signal.SIGTERM)
        deadline = time.time() + grace
        for c in pod.containers:
            while c.proc is not None and c.proc.poll() is None and time.time() < deadline:
                time.sleep(0.1)
            if c.proc is not None and c.proc.poll() is None:
                self.signal_container(c, signal.SIGKILL)
                c.proc.wait(5)
            if c.proc is not None:
                c.exits.append((time.time(), c.proc.returncode))
                self.record(pod.name, c.name, "stopped", str(c.proc.returncode))
            c.proc = None
            c.program_pid = None
            c.ready = False
            c.probes = {}

    def stop_pod(self, pod, grace=None):
        self.stop_containers(pod, grace)
        if pod.sandbox is not None:
            if pod.sandbox_pid:
                try:
                    os.kill(pod.sandbox_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            pod.sandbox.wait(5)
        self.network.remove(pod.netns)
        self.record(pod.name, "", "removed", pod.uid)

    def terminate(self, pod):
        """A deleted Pod, as a kubelet ends it: out of DNS at once (it is no longer in self.pods), its
        containers' preStop sleeps, then SIGTERM, within its grace period, in a thread of its own so that
        the other Pods go on being run meanwhile."""
        self.record(pod.name, "", "terminating", pod.uid)
        thread = threading.Thread(target=self.end_pod, args=(pod,), daemon=True)
        self.terminating[pod.uid] = (pod, thread)
        thread.start()

    def end_pod(self, pod):
        grace = pod.obj["spec"].get("terminationGracePeriodSeconds", 30)
        sleeps = []
        for c in pod.containers:
            hook = c.spec.get("lifecycle", {}).get("preStop")
            if hook is None:
                continue
            if set(hook) != {"sleep"}:
                # Stopped all the same, and said: nothing here runs an exec or HTTP hook.
                log(f"runner: {pod.name}/{c.name}: only the preStop sleep action is supported, not {hook}")
                self.record(pod.name, c.name, "preStop", f"unsupported: {hook}")
                continue
            sleeps.append(hook["sleep"]["seconds"])
        # The hooks run side by side and count against the grace period, as a kubelet runs them.
        slept = min(max(sleeps, default=0), grace)
        if slept:
            self.record(pod.name, "", "preStop", f"sleep {slept}s")
            self.closing.wait(slept)
        try:
            with self.lock:
                # A kubelet gives 2 s more when the hooks used up the grace period; 30 s at most here.
                self.stop_pod(pod, grace=min(30, max(grace - slept, 2)))
        finally:
            with self.lock:
                self.terminating.pop(pod.uid, None)

    def halt(self, name):
        """Stop a Pod's containers and keep them stopped, as if its node went away."""
        with self.lock:
            pod = self.pod(name)
            pod.halted = True
            self.stop_containers(pod)
            self.record(name, "", "halted")

    def resume(self, name):
        with self.lock:
            pod = self.pod(name)
            pod.halted = False
            for c in pod.containers:
                c.next_start = 0
                c.exits = []  # a halt is no crash: no back-off
            self.record(name, "", "resumed")

    def pod(self, name):
        with self.lock:
            matches = [p for p in self.pods.values() if p.name == name]
        if not matches:
            raise KeyError(f"no running pod {name}")
        return matches[0]

    def running(self):
        with self.lock:
            return list(self.pods.values())

    # -- probes ---------------------------------------------------------------------------------
    def probe_loop(self):
        enter_netns(NODE)
        while not self.stopping:
            now = time.time()
            with self.lock:
                pods = list(self.pods.values())
            for pod in pods:
                if pod.halted:
                    continue
                for c in pod.containers:
                    if c.proc is None or c.started_at is None:
                        continue
                    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                        probe = c.spec.get(kind)
                        if not probe:
                            if kind == "readinessProbe":
                                c.ready = True
                            continue
                        self.probe(pod, c, kind, probe, now)
            time.sleep(0.5)

    def probe(self, pod, c, kind, probe, now):
        st = c.probes.setdefault(kind, {"next": c.started_at + probe.get("initialDelaySeconds", 0),
                                        "failures": 0, "successes": 0, "passed": False})
        if kind != "startupProbe" and c.spec.get("startupProbe") and not c.probes.get("startupProbe", {}).get("passed"):
            return
        if now < st["next"]:
            return
        st["next"] = now + probe.get("periodSeconds", 10)
        ok, detail = probe_once(pod, c, probe)
        self.record(pod.name, c.name, kind, detail)
        if ok:
            st["failures"] = 0
            st["successes"] += 1
            if st["successes"] >= probe.get("successThreshold", 1):
                st["passed"] = True
                if kind == "readinessProbe":
                    c.ready = True
        else:
            st["successes"] = 0
            st["failures"] += 1
            if st["failures"] >= probe.get("failureThreshold", 3):
                if kind == "readinessProbe":
                    c.ready = False
                else:
                    self.record(pod.name, c.name, "killed", f"{kind} failed {st['failures']} times")
                    self.signal_container(c, signal.SIGKILL)

    # -- client calls from the node namespace ---------------------------------------------------
    def on_node(self, fn, *args):
        return self.node.submit(fn, *args).result()

    def http(self, url, data=None, timeout=10):
        """(status, body) of a GET (or a POST of DATA) from the node namespace."""
        return self.on_node(http_call, url, data, timeout)

    def close(self):
        self.stopping = True
        self.closing.set()  # ends the preStop sleeps
        self.thread.join(15)
        with self.lock:
            ending = [thread for _, thread in self.terminating.values()]
        for thread in ending:
            thread.join(45)
        with self.lock:
            for pod in list(self.pods.values()):
                self.stop_pod(pod)
            self.pods.clear()
        self.node.shutdown(wait=False)


def claims(obj):
    """The (namespace, claim name) of every claim a Pod object mounts."""
    ns = obj["metadata"]["namespace"]
    return {(ns, v["persistentVolumeClaim"]["claimName"]) for v in obj["spec"].get("volumes", [])
            if "persistentVolumeClaim" in v}


def target_port(pod, port):
    tp = port.get("targetPort", port["port"])
    if isinstance(tp, int):
        return tp
    for c in pod.obj["spec"]["containers"]:
        for p in c.get("ports", []):
            if p.get("name") == tp:
                return p["containerPort"]
    return port["port"]


def resource_value(spec, ref):
    value = spec.get("resources", {}).get(ref["resource"].split(".")[0], {}).get(ref["resource"].split(".")[1])
    if value is None:
        return "0"
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "m": 0.001}
    for suffix, factor in units.items():
        if str(value).endswith(suffix):
            return str(int(float(str(value)[: -len(suffix)]) * factor))
    return str(value)


def container_port(c, port):
    if isinstance(port, str):
        return next(p["containerPort"] for p in c.spec.get("ports", []) if p.get("name") == port)
    return port


def probe_once(pod, c, probe):
    tcp = probe.get("tcpSocket")
    if tcp is not None:
        # As the kubelet's TCP probe: the port accepts a connection, which is closed at once.
        port = container_port(c, tcp["port"])
        try:
            socket.create_connection((pod.ip, port), probe.get("timeoutSeconds", 1)).close()
        except OSError as e:
            return False, f"tcp://{pod.ip}:{port}: {e}"
        return True, f"tcp://{pod.ip}:{port} open"
    get = probe.get("httpGet")
    if get is None:
        return False, "only httpGet and tcpSocket probes are supported"
    port = container_port(c, get["port"])
    url = f"{get.get('scheme', 'HTTP').lower()}://{pod.ip}:{port}{get.get('path', '/')}"
    try:
        status, _ = http_call(url, None, probe.get("timeoutSeconds", 1))
    except Exception as e:  # noqa: BLE001 - a probe's failure is data
        return False, f"{url}: {e}"
    return 200 <= status < 400, f"{url} {status}"


def http_call(url, data, timeout):
    req = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
