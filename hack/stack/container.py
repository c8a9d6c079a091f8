"""Start one container of a pod, as a container runtime would: `container.py SPEC.json`.

Run as root by the pod runner (kubelet.py). It joins the pod's sandbox (its network, UTS and
PID namespaces, held by the sandbox process), makes a mount namespace of its own, builds a root
file system on a tmpfs (the image's binary at its entrypoint path, with the machine's shared
libraries for one that needs them, /etc as the kubelet writes it, the volumes at their mount paths), mounts /proc of the pod's PID namespace, makes the root
read-only when the container asks for it, and execs the program as the pod's user with no new
privileges. The parent stays to wait for the program (which runs in the pod's PID namespace) and
exits with its status; the program's host PID is written to SPEC's `pidfile`, so that the runner
signals the program itself.
"""

import ctypes
import json
import os
import signal
import sys

libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_NO_NEW_PRIVS = 38


def check(rc, what):
    if rc != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def setns(path, nstype):
    fd = os.open(path, os.O_RDONLY)
    try:
        check(libc.setns(fd, nstype), f"setns {path}")
    finally:
        os.close(fd)


def mount(source, target, fstype, flags, data=None):
    check(
        libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        open(path, "w", encoding="utf-8").close()


def bind(source, target, readonly):
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        touch(target)
    mount(source, target, None, MS_BIND | MS_REC)
    if readonly:
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def root_fs(spec):
    """The image's file system on a tmpfs at spec["root"], with every mount in place."""
    root = spec["root"]
    os.makedirs(root, exist_ok=True)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64m")
    for d in ("bin", "dev", "dev/shm", "etc/ssl/certs", "proc", "tmp", "sys"):
        os.makedirs(f"{root}/{d}", exist_ok=True)
    os.chmod(f"{root}/tmp", 0o1777)
    for name, text in spec["etc"].items():
        with open(f"{root}/etc/{name}", "w", encoding="utf-8") as f:
            f.write(text)
    with open(spec["ca_bundle"], encoding="utf-8") as src:
        with open(f"{root}/etc/ssl/certs/ca-certificates.crt", "w", encoding="utf-8") as dst:
            dst.write(src.read())
    for dev in ("null", "zero", "random", "urandom", "full"):
        bind(f"/dev/{dev}", f"{root}/dev/{dev}", False)
    if spec.get("libraries"):
        # A dynamically linked binary (memcached from Debian): the machine's shared libraries,
        # read-only, where its loader looks for them (/lib and /lib64 as the machine has them).
        for folder in ("/usr/lib", "/usr/lib64"):
            if os.path.isdir(folder):
                bind(folder, root + folder, True)
        for folder in ("/lib", "/lib64"):
            if os.path.islink(folder):
                os.symlink(os.readlink(folder), root + folder)
            elif os.path.isdir(folder):
                bind(folder, root + folder, True)
    bind(spec["binary"], root + spec["entry"], True)
    # Parents before children, so that a volume mounted inside another lands on top.
    for m in sorted(spec["mounts"], key=lambda m: m["target"].count("/")):
        bind(m["source"], root + m["target"], m["readonly"])
    if spec.get("workdir"):
        os.makedirs(root + spec["workdir"], exist_ok=True)


def run(spec):
    sandbox = spec["sandbox_pid"]
    setns(f"/proc/{sandbox}/ns/net", CLONE_NEWNET)
    setns(f"/proc/{sandbox}/ns/uts", CLONE_NEWUTS)
    setns(f"/proc/{sandbox}/ns/pid", CLONE_NEWPID)
    check(libc.unshare(CLONE_NEWNS), "unshare mount namespace")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    root_fs(spec)
    child = os.fork()
    if child == 0:
        try:
            root = spec["root"]
            mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV)
            if spec["readonly_root"]:
                mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
            os.chroot(root)
            os.chdir(spec.get("workdir") or "/")
            os.setgroups(spec["groups"])
            os.setgid(spec["gid"])
            os.setuid(spec["uid"])
            check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
            os.execve(spec["entry"], [spec["entry"], *spec["args"]], spec["env"])
        except BaseException as e:  # noqa: BLE001 - the child must never return into the parent's code
            print(f"container.py: cannot start {spec['entry']}: {e}", file=sys.stderr, flush=True)
            os._exit(127)
    with open(spec["pidfile"] + ".new", "w", encoding="utf-8") as f:
        f.write(str(child))
    os.rename(spec["pidfile"] + ".new", spec["pidfile"])
    # The runner signals the program by its PID; a signal to this process goes on to it.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: os.kill(child, s))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            sys.exit(1)
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        sys.exit(128 + os.WTERMSIG(status))
    sys.exit(os.WEXITSTATUS(status))


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as spec_file:
        run(json.load(spec_file))
