#!/usr/bin/env python3
"""tests/cluster/harness.py - the cluster fault harness (issue 7).

Real troupe-node daemons as hosts, each in its own network namespace on a
bridge (or, without namespaces, on loopback with kills and pauses only),
driven with the troupe CLI and the chaos application
(tests/cluster/chaos_app.c); faults from nftables, tbf, signals and
cgroups; every operation, fault and node event recorded in a history
(JSON lines), then checked by tests/cluster/check.py.

Run it through tests/cluster/run.sh (docs/reliability.md, "Cluster fault
scenarios"); `harness.py --help` lists the options.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import check  # noqa: E402

# The CLI is this harness's client, not its subject: under a sanitizer
# build its own leaks at exit are tests/bin/test_cli.sh's business, and
# would make every operation look failed here. The daemons keep the
# caller's sanitizer options.
CLI_ENV = dict(os.environ)
if "ASAN_OPTIONS" in CLI_ENV:
    CLI_ENV["ASAN_OPTIONS"] += ":detect_leaks=0"

HEARTBEAT_MS = 100
TIMEOUT_MS = 600          # the daemons' defaults, said explicitly
OP_TIMEOUT_MS = 2500      # registry operations' own timeout
CLI_TIMEOUT_MS = 4000     # the CLI's --timeout


def now():
    return time.time()


# ---------------------------------------------------------------------------
# History


class History:
    """A JSON-lines file of events, each with its wall-clock time t."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "w")
        self.lock = threading.Lock()
        self.n = 0

    def add(self, kind, **kw):
        ev = {"t": round(now(), 4), "type": kind}
        ev.update(kw)
        with self.lock:
            self.f.write(json.dumps(ev, sort_keys=True) + "\n")
            self.f.flush()
            self.n += 1
        return ev

    def close(self):
        with self.lock:
            self.f.close()


# ---------------------------------------------------------------------------
# The network: namespaces on a bridge, or loopback


def run_cmd(argv, inp=None, check_rc=True, timeout=20):
    p = subprocess.run(argv, input=inp, capture_output=True, text=True,
                       timeout=timeout)
    if check_rc and p.returncode != 0:
        raise RuntimeError("%s: rc %d: %s" % (" ".join(argv), p.returncode,
                                              p.stderr.strip()))
    return p


def namespaces_usable(tag):
    """Can this process make network namespaces (root, iproute2, nft)?"""
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"):
        return False, "not root, or ip or nft missing"
    probe = "%sprobe" % tag
    p = subprocess.run(["ip", "netns", "add", probe], capture_output=True,
                       text=True)
    if p.returncode != 0:
        return False, "ip netns add failed: " + p.stderr.strip()
    ok = subprocess.run(["ip", "netns", "exec", probe, "nft", "list",
                         "ruleset"], capture_output=True).returncode == 0
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return (True, "") if ok else (False, "nft does not work in a namespace")


class Net:
    """N hosts. With namespaces: host i is netns TAG-n<i> at 10.200.0.<i>
    on a bridge in netns TAG-sw; every fault is applied inside the hosts'
    namespaces, nothing in the root namespace."""

    def __init__(self, tag, n, use_ns):
        self.tag, self.n, self.use_ns = tag, n, use_ns
        self.created = []
        self.cgroups = []

    def ns(self, i):
        return "%s-n%d" % (self.tag, i)

    def ip(self, i):
        return "10.200.0.%d" % i if self.use_ns else "127.0.0.1"

    def prefix(self, i):
        return ["ip", "netns", "exec", self.ns(i)] if self.use_ns else []

    def setup(self):
        if not self.use_ns:
            return
        sw = "%s-sw" % self.tag
        run_cmd(["ip", "netns", "add", sw])
        self.created.append(sw)
        run_cmd(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"])
        run_cmd(["ip", "-n", sw, "link", "set", "br0", "up"])
        run_cmd(["ip", "-n", sw, "link", "set", "lo", "up"])
        for i in range(1, self.n + 1):
            ns = self.ns(i)
            run_cmd(["ip", "netns", "add", ns])
            self.created.append(ns)
            run_cmd(["ip", "-n", ns, "link", "set", "lo", "up"])
            run_cmd(["ip", "link", "add", "eth0", "netns", ns, "type", "veth",
                     "peer", "name", "p%d" % i, "netns", sw])
            run_cmd(["ip", "-n", sw, "link", "set", "p%d" % i, "master",
                     "br0"])
            run_cmd(["ip", "-n", sw, "link", "set", "p%d" % i, "up"])
            run_cmd(["ip", "-n", ns, "addr", "add", "%s/24" % self.ip(i),
                     "dev", "eth0"])
            run_cmd(["ip", "-n", ns, "link", "set", "eth0", "up"])

    def teardown(self):
        for cg in self.cgroups:
            try:
                for pid in open(os.path.join(cg, "cgroup.procs")).read().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
                time.sleep(0.05)
                os.rmdir(cg)
            except OSError:
                pass
        self.cgroups = []
        for ns in reversed(self.created):
            p = subprocess.run(["ip", "netns", "pids", ns],
                               capture_output=True, text=True)
            for pid in p.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.created = []

    # -- faults (namespaces only) --

    def nft(self, i, script):
        run_cmd(self.prefix(i) + ["nft", "-f", "-"], inp=script)

    def drop_peers(self, i, peers):
        """Host i drops everything to and from the hosts in peers."""
        ips = ", ".join(self.ip(j) for j in sorted(peers))
        self.nft(i, "table inet chaos {\n"
                 " chain in { type filter hook input priority 0; policy accept;"
                 " ip saddr { %s } drop; }\n"
                 " chain out { type filter hook output priority 0; policy accept;"
                 " ip daddr { %s } drop; }\n}\n" % (ips, ips))

    def isolate(self, i):
        """Host i drops every packet on its link (a cut cable, no FIN)."""
        self.nft(i, "table inet chaos {\n"
                 " chain in { type filter hook input priority 0; policy accept;"
                 " iifname \"eth0\" drop; }\n"
                 " chain out { type filter hook output priority 0; policy accept;"
                 " oifname \"eth0\" drop; }\n}\n")

    def loss(self, i, pct):
        """Host i drops pct % of the packets it receives, at random."""
        self.nft(i, "table inet chaos {\n"
                 " chain in { type filter hook input priority 0; policy accept;"
                 " iifname \"eth0\" numgen random mod 100 < %d drop; }\n}\n"
                 % pct)

    def heal(self, i):
        subprocess.run(self.prefix(i) + ["nft", "flush", "ruleset"],
                       capture_output=True)

    def heal_all(self):
        for i in range(1, self.n + 1):
            self.heal(i)


# ---------------------------------------------------------------------------
# Nodes and the CLI


class Cluster:
    def __init__(self, args, net, hist, work, nodes):
        self.args, self.net, self.hist, self.work = args, net, hist, work
        self.names = ["n%d" % i for i in range(1, nodes + 1)]
        self.proc = {}      # name -> Popen
        self.ep = {}        # name -> endpoint
        self.ctl = {}       # name -> chaos_ctl pid
        self.logs = []      # every log file written
        self.starts = {}    # name -> how many starts
        self.secret = os.path.join(work, "secret")
        with open(self.secret, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(self.secret, 0o600)

    def idx(self, name):
        return int(name[1:])

    def start(self, name, join=None, extra=(), timeout_ms=None):
        i = self.idx(name)
        n = self.starts.get(name, 0) + 1
        self.starts[name] = n
        log = os.path.join(self.work, "%s.%d.log" % (name, n))
        self.logs.append((name, log))
        listen = "tcp://%s:%d" % (self.net.ip(i), 4370 if self.net.use_ns
                                  else 0)
        argv = self.net.prefix(i) + [
            os.path.join(self.args.bin, "troupe-node"), "--name", name,
            "--listen", listen, "--secret-file", self.secret,
            "--load", self.args.app, "--log-format", "json",
            "--heartbeat-ms", str(HEARTBEAT_MS),
            "--timeout-ms", str(timeout_ms or TIMEOUT_MS)] + list(extra)
        if join:
            argv += ["--join", self.ep[join]]
        errf = open(log, "w")
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errf,
                             stdin=subprocess.DEVNULL, text=True,
                             start_new_session=True)
        errf.close()
        line = read_line(p.stdout, 15)
        m = re.match(r"troupe-node (\S+) listening on (\S+)$", line or "")
        if not m:
            p.kill()
            p.wait()
            raise RuntimeError("%s did not start: %r; log: %s" % (
                name, line, open(log).read()[-2000:]))
        self.proc[name] = p
        self.ep[name] = m.group(2)
        self.hist.add("node", event="start", node=name, pid=p.pid,
                      endpoint=self.ep[name], join=join)
        self.ctl.pop(name, None)
        return p

    def find_ctl(self, name):
        for _ in range(50):
            r = self.cli(name, "ps", record=False)
            if r["ok"]:
                for a in r["out"]:
                    if a.get("name") == "chaos_ctl":
                        self.ctl[name] = a["pid"]
                        return a["pid"]
            time.sleep(0.1)
        raise RuntimeError("no chaos_ctl on %s" % name)

    def alive(self, name):
        p = self.proc.get(name)
        return p is not None and p.poll() is None

    def live(self):
        return [n for n in self.names if self.alive(n)]

    def signal(self, name, sig, what):
        p = self.proc[name]
        self.hist.add("fault", fault=what, node=name, pid=p.pid)
        os.kill(p.pid, sig)
        if sig == signal.SIGKILL:
            p.wait()

    def stop_all(self):
        for name, p in self.proc.items():
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                    p.kill()
                except OSError:
                    pass
                p.wait()

    def cli(self, name, *cmd, record=True, op=None, timeout_ms=CLI_TIMEOUT_MS,
            **fields):
        """Run `troupe --json CMD` against node `name`, from inside its
        namespace. Returns {"ok", "out" (parsed JSON), "err", "rc"} and,
        when record, adds invoke and completion events to the history."""
        i = self.idx(name)
        argv = self.net.prefix(i) + [
            os.path.join(self.args.bin, "troupe"), "--node", self.ep[name],
            "--secret-file", self.secret, "--json",
            "--timeout", str(timeout_ms)] + list(cmd)
        t0 = now()
        if record:
            self.hist.add("invoke", op=op or cmd[0], node=name, t0=t0,
                          **fields)
        try:
            p = subprocess.run(argv, capture_output=True, text=True,
                               timeout=timeout_ms / 1000 + 12, env=CLI_ENV)
            rc, out, err = p.returncode, p.stdout, p.stderr.strip()
        except subprocess.TimeoutExpired:
            rc, out, err = -1, "", "harness timeout"
        t1 = now()
        res = {"ok": rc == 0, "rc": rc, "err": err, "out": None, "t0": t0,
               "t1": t1}
        if rc == 0:
            try:
                res["out"] = json.loads(out)
            except ValueError:
                res["ok"] = False
                res["err"] = "bad json: " + out[:200]
        return res

    def complete(self, res, op, name, kind, **fields):
        self.hist.add("complete", op=op, node=name, result=kind,
                      t0=res["t0"], t1=res["t1"], **fields)

    # -- the operations the checker knows --

    def reg(self, name, key):
        ctl = self.ctl.get(name)
        if not ctl:
            return None
        res = self.cli(name, "call", ctl, json.dumps(
            ["reg", key, OP_TIMEOUT_MS]), op="reg", key=key)
        rep = res["out"].get("reply") if res["ok"] else None
        if rep and rep[0] == "ok":
            self.complete(res, "reg", name, "ok", key=key, pid=rep[1])
        elif rep and rep[0] == "error" and rep[1] in ("TR_EEXIST",
                                                      "TR_EUNREACHABLE",
                                                      "TR_EINVAL"):
            self.complete(res, "reg", name, "fail", key=key,
                          pid=rep[2] if len(rep) > 2 else None, why=rep[1])
        else:
            why = rep[1] if rep else res["err"]
            self.complete(res, "reg", name, "info", key=key,
                          pid=rep[2] if rep and len(rep) > 2 else None,
                          why=why)
        return res

    def unreg(self, name, key):
        ctl = self.ctl.get(name)
        if not ctl:
            return None
        res = self.cli(name, "call", ctl, json.dumps(
            ["unreg", key, OP_TIMEOUT_MS]), op="unreg", key=key)
        rep = res["out"].get("reply") if res["ok"] else None
        if rep and rep[0] == "ok":
            self.complete(res, "unreg", name, "ok", key=key)
        else:
            self.complete(res, "unreg", name, "info", key=key,
                          why=rep[1] if rep else res["err"])
        return res

    def whereis(self, name, key):
        res = self.cli(name, "whereis", key, op="whereis", key=key)
        if res["ok"]:
            self.complete(res, "whereis", name, "ok", key=key,
                          pid=res["out"]["pid"])
        elif "not found" in res["err"]:
            self.complete(res, "whereis", name, "ok", key=key, pid=None)
        else:
            self.complete(res, "whereis", name, "fail", key=key,
                          why=res["err"])
        return res

    def kill_pid(self, name, pid):
        res = self.cli(name, "kill", pid, op="kill", pid=pid)
        self.complete(res, "kill", name, "ok" if res["ok"] else "info",
                      pid=pid, why=res["err"])
        return res

    def names_of(self, name, record=True):
        res = self.cli(name, "names", record=False)
        if not res["ok"]:
            return None
        m = {x["name"]: x["pid"] for x in res["out"]}
        if record:
            self.hist.add("names", node=name, t0=res["t0"], t1=res["t1"],
                          names=m)
        return m

    def status(self, name):
        res = self.cli(name, "status", record=False)
        return res["out"] if res["ok"] else None

    def ps_pids(self, name):
        res = self.cli(name, "ps", record=False)
        return [a["pid"] for a in res["out"]] if res["ok"] else None

    def nodes_view(self, name):
        res = self.cli(name, "nodes", record=False)
        return res["out"] if res["ok"] else None

    # -- waiting --

    def wait_mesh(self, names=None, secs=15):
        names = names or self.live()
        end = now() + secs
        while now() < end:
            good = True
            for n in names:
                v = self.nodes_view(n)
                up = {x["name"] for x in v or [] if x["state"] in
                      ("up", "self")}
                if not set(names) <= up:
                    good = False
                    break
            if good:
                return True
            time.sleep(0.2)
        return False

    def wait_registry(self, names=None, secs=15):
        """Every node of names names the same leader, and a registration
        goes through (the registry has installed an epoch)."""
        names = names or self.live()
        end = now() + secs
        while now() < end:
            leaders = set()
            for n in names:
                s = self.status(n)
                leaders.add(s.get("leader") if s else None)
            if len(leaders) == 1 and None not in leaders and "" not in leaders:
                return leaders.pop()
            time.sleep(0.2)
        return None

    def read_logs(self):
        """Node events from every daemon's JSON log, into the history."""
        for name, path in self.logs:
            try:
                lines = open(path).read().splitlines()
            except OSError:
                continue
            for ln in lines:
                try:
                    o = json.loads(ln)
                except ValueError:
                    continue
                msg = o.get("msg", "")
                m = re.match(r"(\S+): (nodeup|nodedown) (\S+?)(?:: (.*))?$",
                             msg)
                ev = {"node": name, "ts": iso_to_epoch(o.get("ts"))}
                if m:
                    peer = m.group(3)
                    if peer.startswith("troupe-cli-") or \
                            peer.startswith("rogue-"):
                        continue
                    ev.update(event=m.group(2), peer=peer,
                              reason=m.group(4) or "")
                elif "protocol error" in msg or "refused" in msg or \
                        "dropped" in msg:
                    ev.update(event="rejected", msg=msg)
                elif o.get("level") == "error":
                    ev.update(event="error", msg=msg)
                else:
                    continue
                self.hist.add("log", **ev)


def iso_to_epoch(ts):
    import calendar
    if not ts:
        return None
    m = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z", ts)
    if not m:
        return None
    y, mo, d, h, mi, s, ms = (int(x) for x in m.groups())
    return calendar.timegm((y, mo, d, h, mi, s)) + ms / 1000.0


def read_line(stream, secs):
    out = []

    def rd():
        out.append(stream.readline())
    t = threading.Thread(target=rd, daemon=True)
    t.start()
    t.join(secs)
    return out[0].strip() if out else None


# ---------------------------------------------------------------------------
# Clients


class Churn:
    """Client threads, one per node, doing registry operations on a small
    key space until stopped."""

    def __init__(self, cl, rnd, keys, weights=(5, 2, 3), nodes=None,
                 pause=0.0):
        self.cl, self.keys, self.weights = cl, keys, weights
        self.nodes = nodes or list(cl.names)
        self.stop = threading.Event()
        self.threads = []
        self.seeds = {n: rnd.randrange(1 << 30) for n in self.nodes}
        self.pause = pause

    def run_one(self, node):
        r = random.Random(self.seeds[node])
        while not self.stop.is_set():
            if not self.cl.alive(node) or node not in self.cl.ctl:
                time.sleep(0.1)
                continue
            key = r.choice(self.keys)
            op = r.choices(["reg", "unreg", "whereis"], self.weights)[0]
            try:
                getattr(self.cl, op)(node, key)
            except Exception as e:  # a harness bug: say so, keep going
                self.cl.hist.add("harness_error", where="churn",
                                 error=repr(e))
            if self.pause:
                time.sleep(r.uniform(0, self.pause))

    def __enter__(self):
        for n in self.nodes:
            t = threading.Thread(target=self.run_one, args=(n,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join(30)


# ---------------------------------------------------------------------------
# Scenario helpers


def settle(cl, hist, secs=10.0):
    """Heal is done: wait for the mesh and the registry, then take the
    final snapshots (names, live actors, statuses) for the checker."""
    t0 = now()
    live = cl.live()
    cl.wait_mesh(live, secs)
    cl.wait_registry(live, secs)
    # convergence: poll every node's names until identical
    conv_t = None
    end = now() + secs
    while now() < end:
        snaps = {n: cl.names_of(n, record=False) for n in live}
        vals = [json.dumps(v, sort_keys=True) for v in snaps.values()]
        if None not in snaps.values() and len(set(vals)) == 1:
            conv_t = now() - t0
            break
        time.sleep(0.2)
    snaps = {n: cl.names_of(n) for n in live}
    pids = {}
    for n in live:
        pids[n] = cl.ps_pids(n)
    status = {n: cl.status(n) for n in live}
    hist.add("final", live=live, names=snaps, actors=pids, status=status,
             converged_after=conv_t, settle_started=t0)


def names_everywhere(cl, live=None):
    live = live or cl.live()
    return {n: cl.names_of(n, record=False) for n in live}


def start_cluster(cl, hist, n_nodes, extra=None):
    extra = extra or {}
    cl.start("n1", extra=extra.get("n1", ()))
    for i in range(2, n_nodes + 1):
        cl.start("n%d" % i, join="n1", extra=extra.get("n%d" % i, ()))
    if not cl.wait_mesh(secs=15):
        raise RuntimeError("the mesh did not form")
    for n in cl.names:
        cl.find_ctl(n)
    leader = cl.wait_registry(secs=15)
    if not leader:
        raise RuntimeError("the registry found no leader")
    hist.add("ready", leader=leader)
    return leader


def sleep_until(t):
    d = t - now()
    if d > 0:
        time.sleep(d)


# ---------------------------------------------------------------------------
# The scenarios. Each gets (cl, net, hist, rnd, args) and returns meta
# for the checker (which promises to check, bounds).


def sc_r4(cl, net, hist, rnd, args):
    """kill -9 of the global registry's leader during registrations; the
    leader comes back 1-3 s later as a new incarnation."""
    leader = start_cluster(cl, hist, 3)
    keys = ["k%d" % i for i in range(30)]
    with Churn(cl, rnd, keys, weights=(5, 3, 3)):
        time.sleep(rnd.uniform(2.0, 3.5))
        before = {n: cl.status(n) for n in cl.live()}
        cl.signal(leader, signal.SIGKILL, "kill9")
        cl.ctl.pop(leader, None)
        hist.add("note", what="leader killed", leader=leader,
                 status_before={n: s.get("leader") if s else None
                                for n, s in before.items()})
        time.sleep(rnd.uniform(1.0, 3.0))
        survivors = [n for n in cl.names if n != leader]
        new_leader = cl.wait_registry(survivors, 10)
        hist.add("note", what="leader after kill", leader=new_leader)
        cl.start(leader, join=survivors[0])
        hist.add("fault", fault="restart", node=leader)
        cl.find_ctl(leader)
        time.sleep(rnd.uniform(1.5, 2.5))
    settle(cl, hist)
    return {"checks": ["registry", "convergence", "leftover", "failover"],
            "failover_bound_s": 5.0, "leader": leader}


def sc_r7(cl, net, hist, rnd, args):
    """Owner deaths and node deaths: names vanish everywhere."""
    start_cluster(cl, hist, 4)
    keys = ["o%d" % i for i in range(24)]
    owners = {}
    for i, k in enumerate(keys):
        node = cl.names[i % 4]
        res = cl.reg(node, k)
        rep = res["out"].get("reply") if res and res["ok"] else None
        if rep and rep[0] == "ok":
            owners[k] = (node, rep[1])
    # owners killed one by one through the CLI, from random nodes
    victims = rnd.sample(sorted(owners), 6)
    deaths = []
    for k in victims:
        via = rnd.choice(cl.live())
        r = cl.kill_pid(via, owners[k][1])
        deaths.append({"key": k, "pid": owners[k][1], "t": r["t1"]})
    # a whole node dies (not the leader, so that this is only node loss)
    victim = rnd.choice(["n2", "n3", "n4"])
    cl.signal(victim, signal.SIGKILL, "kill9")
    cl.ctl.pop(victim, None)
    tk = now()
    # watch the names go on every live node
    gone_after = {}
    expect_gone = set(victims) | {k for k, (n, _) in owners.items()
                                  if n == victim}
    end = now() + 6
    while now() < end and len(gone_after) < len(cl.live()):
        for n in cl.live():
            if n in gone_after:
                continue
            m = cl.names_of(n)
            if m is not None and not (expect_gone & set(m)):
                gone_after[n] = round(now() - tk, 3)
        time.sleep(0.1)
    hist.add("note", what="names of the dead gone", after=gone_after,
             victim=victim)
    # a second round on the survivors: more owners, killed while a
    # client keeps registering
    with Churn(cl, rnd, ["c%d" % i for i in range(8)], weights=(6, 1, 3),
               nodes=cl.live()):
        time.sleep(1.5)
        for _ in range(4):
            m = cl.names_of(rnd.choice(cl.live()), record=False) or {}
            cands = [p for k, p in m.items() if k.startswith("c")]
            if cands:
                cl.kill_pid(rnd.choice(cl.live()), rnd.choice(cands))
            time.sleep(0.4)
    settle(cl, hist)
    return {"checks": ["registry", "convergence", "leftover", "deaths"],
            "death_bound_s": 3.0, "node_victim": victim, "kill_t": tk}


def partition_cycles(cl, net, hist, rnd, cycles, make_groups):
    for c in range(cycles):
        groups = make_groups(c)
        hist.add("fault", fault="partition", groups=groups)
        for g in groups:
            others = [cl.idx(x) for h in groups if h is not g for x in h]
            for x in g:
                net.drop_peers(cl.idx(x), others)
        time.sleep(rnd.uniform(2.0, 4.0))
        net.heal_all()
        hist.add("fault", fault="heal")
        time.sleep(rnd.uniform(2.0, 3.0))


def sc_r1(cl, net, hist, rnd, args):
    """Partitions into random halves and heals, under registry churn on
    every node (one key space: both sides register the same names)."""
    start_cluster(cl, hist, 3)
    keys = ["p%d" % i for i in range(8)]

    def halves(c):
        lone = rnd.choice(cl.names)
        return [[lone], [n for n in cl.names if n != lone]]
    with Churn(cl, rnd, keys, weights=(5, 2, 3)):
        time.sleep(1.0)
        partition_cycles(cl, net, hist, rnd, 3, halves)
    settle(cl, hist, 15)
    return {"checks": ["registry", "convergence", "leftover"]}


def sc_r2(cl, net, hist, rnd, args):
    """An overlapping partition: n1 and n3 cannot see each other, both
    see n2. Writes wait (views never agree); after the heal, one table."""
    start_cluster(cl, hist, 3)
    keys = ["b%d" % i for i in range(8)]
    with Churn(cl, rnd, keys, weights=(5, 2, 3)):
        time.sleep(1.5)
        hist.add("fault", fault="bridge", cut=[["n1", "n3"]])
        net.drop_peers(1, [3])
        net.drop_peers(3, [1])
        time.sleep(rnd.uniform(4.0, 5.0))
        net.heal_all()
        hist.add("fault", fault="heal")
        time.sleep(2.5)
    settle(cl, hist, 15)
    return {"checks": ["registry", "convergence", "leftover", "bridge"]}


def sc_r5(cl, net, hist, rnd, args):
    """Crash without FIN: every packet of a node is dropped, then it is
    killed; its peers find out by heartbeats alone."""
    start_cluster(cl, hist, 3)
    keys = ["f%d" % i for i in range(12)]
    victim = rnd.choice(cl.names)
    for i, k in enumerate(keys):
        cl.reg(cl.names[i % 3], k)
    with Churn(cl, rnd, ["g%d" % i for i in range(6)], weights=(5, 1, 3)):
        time.sleep(1.0)
        hist.add("fault", fault="isolate", node=victim)
        net.isolate(cl.idx(victim))
        tc = now()
        time.sleep(0.2)
        cl.signal(victim, signal.SIGKILL, "kill9")
        cl.ctl.pop(victim, None)
        gone = {}
        end = now() + 6
        live = cl.live()
        while now() < end and len(gone) < len(live):
            for n in live:
                m = cl.names_of(n, record=False)
                if n not in gone and m is not None and not any(
                        check.pid_node_hash(victim) in p for p in m.values()):
                    gone[n] = round(now() - tc, 3)
            time.sleep(0.1)
        hist.add("note", what="names of the cut node gone", after=gone,
                 victim=victim)
        time.sleep(1.0)
        net.heal(cl.idx(victim))
        hist.add("fault", fault="heal")
    settle(cl, hist)
    return {"checks": ["registry", "convergence", "leftover", "detect",
                       "failover", "deaths"],
            "detect_bound_s": 1.5, "victim": victim, "cut_t": tc,
            "failover_bound_s": 5.0, "death_bound_s": 3.0}


def rejected(cl, name):
    s = cl.status(name)
    return s.get("rejected_frames") if s else None


def sc_r12(cl, net, hist, rnd, args):
    """Unauthenticated and wrong-key peers: a daemon with the wrong secret,
    the CLI with the wrong secret, a handshake with a wrong proof, random
    bytes on the port, a silent connection, frames before any
    handshake."""
    start_cluster(cl, hist, 3)
    for i in range(6):
        cl.reg(cl.names[i % 3], "a%d" % i)
    before_names = names_everywhere(cl)
    target = rnd.choice(cl.names)
    r0 = rejected(cl, target)
    wrong = os.path.join(cl.work, "wrong")
    with open(wrong, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    ti = cl.idx(target)
    rogue = os.path.join(args.bin_tests, "rogue")
    attempts = []

    def attack(what, argv):
        t0 = now()
        p = subprocess.run(net.prefix(ti) + argv, capture_output=True,
                           text=True, timeout=30)
        res = {"attack": what, "rc": p.returncode, "t0": t0, "t1": now(),
               "out": [json.loads(x) for x in p.stdout.splitlines()
                       if x.startswith("{")],
               "stdout": p.stdout[-300:], "stderr": p.stderr[-300:]}
        hist.add("attack", target=target, **res)
        attempts.append(res)
        return res

    # a daemon with the wrong secret tries to join
    attack("wrong_secret_daemon", [
        os.path.join(args.bin, "troupe-node"), "--name", "intruder",
        "--listen", "tcp://%s:%d" % (net.ip(ti), 4399 if net.use_ns else 0),
        "--secret-file", wrong, "--join", cl.ep[target]])
    attack("wrong_secret_cli", [
        os.path.join(args.bin, "troupe"), "--node", cl.ep[target],
        "--secret-file", wrong, "--timeout", "2000", "ping"])
    attack("wrong_proof", [rogue, "wrongkey", cl.ep[target], wrong])
    seed = rnd.randrange(1 << 30)
    attack("random_bytes", [rogue, "garbage", cl.ep[target], str(seed),
                            "65536"])
    attack("preauth_frames", [rogue, "preauth", cl.ep[target],
                              str(seed + 1), "60"])
    attack("silent", [rogue, "silent", cl.ep[target], "2500"])
    time.sleep(0.5)
    r1 = rejected(cl, target)
    after_names = names_everywhere(cl)
    hist.add("hostile_summary", target=target, rejected_before=r0,
             rejected_after=r1, names_before=before_names,
             names_after=after_names,
             nodes={n: cl.nodes_view(n) for n in cl.live()})
    settle(cl, hist)
    return {"checks": ["convergence", "leftover", "hostile", "auth",
                       "no_nodedown"], "target": target}


def sc_r11(cl, net, hist, rnd, args):
    """Malformed frames from a peer that holds the secret: each case on a
    fresh authenticated line, after one valid message to a counter."""
    start_cluster(cl, hist, 3)
    target = rnd.choice(cl.names)
    other = rnd.choice([n for n in cl.names if n != target])
    r = cl.cli(target, "spawn", "counter", record=False)
    counter = r["out"]["pid"]
    for i in range(6):
        cl.reg(cl.names[i % 3], "m%d" % i)
    before_names = names_everywhere(cl)
    r0 = rejected(cl, target)
    ti = cl.idx(target)
    t0 = now()
    p = subprocess.run(net.prefix(ti) + [
        os.path.join(args.bin_tests, "rogue"), "malformed", cl.ep[target],
        cl.secret, counter, cl.ctl[other]], capture_output=True, text=True,
        timeout=120)
    cases = [json.loads(x) for x in p.stdout.splitlines()
             if x.startswith("{")]
    hist.add("attack", attack="malformed", target=target, rc=p.returncode,
             t0=t0, t1=now(), out=cases, stderr=p.stderr[-500:])
    time.sleep(0.3)
    r1 = rejected(cl, target)
    cnt = cl.cli(target, "call", counter, "get", record=False)
    count = cnt["out"]["reply"][1] if cnt["ok"] else None
    hist.add("hostile_summary", target=target, rejected_before=r0,
             rejected_after=r1, counter=count,
             valid_sent=sum(1 for c in cases if c.get("welcome")),
             names_before=before_names, names_after=names_everywhere(cl),
             nodes={n: cl.nodes_view(n) for n in cl.live()})
    settle(cl, hist)
    return {"checks": ["convergence", "leftover", "hostile", "malformed",
                       "no_nodedown"], "target": target}


def sc_r9(cl, net, hist, rnd, args):
    """A slow node: short SIGSTOPs and a CPU quota under the timeout (no
    nodedown), then a SIGSTOP beyond it (a nodedown, then back as the same
    incarnation)."""
    start_cluster(cl, hist, 3)
    victim = rnd.choice(cl.names[1:])
    keys = ["s%d" % i for i in range(8)]
    with Churn(cl, rnd, keys, weights=(4, 1, 4),
               nodes=[n for n in cl.names if n != victim]):
        time.sleep(1.0)
        windows = []
        for _ in range(3):
            ms = rnd.randint(150, 250)
            t0 = now()
            cl.signal(victim, signal.SIGSTOP, "pause")
            time.sleep(ms / 1000)
            os.kill(cl.proc[victim].pid, signal.SIGCONT)
            hist.add("fault", fault="resume", node=victim, paused_ms=ms)
            windows.append([t0, now()])
            time.sleep(0.8)
        # a CPU quota of 10 % for 3 s
        cg = cpu_quota(net, cl, victim, 10)
        if cg:
            t0 = now()
            hist.add("fault", fault="cpu_quota", node=victim, pct=10)
            ok_ops = 0
            end = now() + 3
            while now() < end:
                r = cl.cli(victim, "ping", record=False)
                ok_ops += r["ok"]
            cpu_quota_off(net, cl, victim, cg)
            hist.add("fault", fault="cpu_quota_off", node=victim,
                     pings_ok=ok_ops)
            windows.append([t0, now()])
        else:
            hist.add("note", what="no cpu cgroup: quota skipped")
        time.sleep(1.0)
        # beyond the timeout: 2 s
        tl = now()
        cl.signal(victim, signal.SIGSTOP, "pause")
        time.sleep(2.0)
        os.kill(cl.proc[victim].pid, signal.SIGCONT)
        hist.add("fault", fault="resume", node=victim, paused_ms=2000)
        time.sleep(2.5)
    settle(cl, hist)
    return {"checks": ["registry", "convergence", "leftover", "slow"],
            "victim": victim, "quiet_windows": windows, "long_pause_t": tl,
            "detect_bound_s": 1.5}


def cpu_quota(net, cl, name, pct):
    base = "/sys/fs/cgroup/cpu"
    if os.geteuid() != 0 or not os.path.isdir(base):
        return None
    cg = os.path.join(base, "%s-%s" % (net.tag, name))
    try:
        os.mkdir(cg)
        net.cgroups.append(cg)
        with open(os.path.join(cg, "cpu.cfs_period_us"), "w") as f:
            f.write("100000")
        with open(os.path.join(cg, "cpu.cfs_quota_us"), "w") as f:
            f.write(str(pct * 1000))
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(cl.proc[name].pid))
        return cg
    except OSError as e:
        cl.hist.add("note", what="cpu cgroup failed", error=str(e))
        return None


def cpu_quota_off(net, cl, name, cg):
    try:
        with open(os.path.join(cg, "cpu.cfs_quota_us"), "w") as f:
            f.write("-1")
        with open(os.path.join(os.path.dirname(cg), "cgroup.procs"),
                  "w") as f:
            f.write(str(cl.proc[name].pid))
    except OSError:
        pass


def rss_kib(pid):
    try:
        for ln in open("/proc/%d/status" % pid):
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    except OSError:
        pass
    return None


def mem_cgroup(net, cl, name, mib):
    """Put node name in a memory cgroup of mib MiB (a safety net for the
    machine: a node that grows past it is OOM-killed, which the checker
    sees). None without cgroup v1 memory."""
    base = "/sys/fs/cgroup/memory"
    if os.geteuid() != 0 or not os.path.isdir(base):
        return None
    cg = os.path.join(base, "%s-%s" % (net.tag, name))
    try:
        os.mkdir(cg)
        net.cgroups.append(cg)
        with open(os.path.join(cg, "memory.limit_in_bytes"), "w") as f:
            f.write(str(mib << 20))
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(cl.proc[name].pid))
        return cg
    except OSError as e:
        cl.hist.add("note", what="memory cgroup failed", error=str(e))
        return None


def sc_r13(cl, net, hist, rnd, args):
    """A mailbox flood: a flooder actor sends 1 KiB messages as fast as it
    may to a slow actor (one message per 200 us), first from the same
    node, then from another; the receiving node's RSS must stay under the
    cap while messages flow (it runs in a memory cgroup of twice the cap,
    so that a runaway cannot hurt the machine)."""
    start_cluster(cl, hist, 2)
    cap_mib = 256
    rx, tx = "n2", "n1"
    cg = mem_cgroup(net, cl, rx, 2 * cap_mib)
    base = {n: rss_kib(cl.proc[n].pid) for n in cl.names}
    samples = []
    results = {}
    for where, src in (("local", rx), ("remote", tx)):
        sloth = cl.cli(rx, "spawn", "sloth", record=False)["out"]["pid"]
        fl = cl.cli(src, "spawn", "flooder", record=False)["out"]["pid"]
        total = 400000
        st0 = cl.status(rx) or {}
        hist.add("fault", fault="flood", where=where, src=src, dst=rx,
                 total=total, bytes=1024)
        cl.cli(src, "send", fl, json.dumps(["flood", sloth, total, 64,
                                            1024]), record=False)
        t0 = now()
        while now() - t0 < 6 and cl.alive(rx):
            r = {n: rss_kib(cl.proc[n].pid) for n in cl.names}
            st = cl.status(rx) or {}
            samples.append({
                "where": where, "t": round(now() - t0, 2), "rss_kib": r,
                "handled": (st.get("messages", 0) - st0.get("messages", 0)
                            if st else None),
                "queued": st.get("mailbox_messages"),
                "deepest": st.get("mailbox_deepest")})
            time.sleep(0.4)
        s = cl.cli(src, "call", fl, "get", record=False, timeout_ms=2000)
        results[where] = {
            "handled": samples[-1]["handled"] if samples else None,
            "sent": s["out"]["reply"][1] if s["ok"] else None,
            "peak_queued": max((x["queued"] or 0 for x in samples
                                if x["where"] == where), default=None)}
        cl.cli(rx, "kill", sloth, record=False)
        cl.cli(src, "kill", fl, record=False)
        time.sleep(0.5)
    hist.add("flood_summary", samples=samples, base_rss_kib=base,
             cap_mib=cap_mib, results=results, cgroup=bool(cg),
             alive={n: cl.alive(n) for n in cl.names})
    settle(cl, hist)
    return {"checks": ["convergence", "flood"], "cap_mib": cap_mib}


def sc_r8(cl, net, hist, rnd, args):
    """Ordering and no duplicates under loss and cuts: a sequence-checking
    sink on every node, a source on every other node sending to it."""
    start_cluster(cl, hist, 3)
    sinks, srcs = {}, []
    for n in cl.names:
        sinks[n] = cl.cli(n, "spawn", "seqsink", record=False)["out"]["pid"]
    for n in cl.names:
        for m in cl.names:
            if m == n:
                continue
            pid = cl.cli(n, "spawn", "seqsrc", record=False)["out"]["pid"]
            srcs.append({"node": n, "pid": pid, "sink": sinks[m],
                         "sink_node": m})
    per_src = 15000
    for s in srcs:
        cl.cli(s["node"], "send", s["pid"], json.dumps(
            ["start", s["sink"], 4, 4, per_src]), record=False)
    hist.add("note", what="sources started", sources=srcs)
    time.sleep(1.0)
    if net.use_ns:
        for c in range(2):
            v = rnd.choice(cl.names)
            hist.add("fault", fault="loss", node=v, pct=30)
            net.loss(cl.idx(v), 30)
            time.sleep(2.0)
            net.heal(cl.idx(v))
            hist.add("fault", fault="heal")
            a, b = rnd.sample(cl.names, 2)
            hist.add("fault", fault="partition", groups=[[a], [b]])
            net.drop_peers(cl.idx(a), [cl.idx(b)])
            net.drop_peers(cl.idx(b), [cl.idx(a)])
            time.sleep(rnd.uniform(1.5, 2.5))
            net.heal_all()
            hist.add("fault", fault="heal")
            time.sleep(1.0)
    else:
        for c in range(2):
            v = rnd.choice(cl.names)
            cl.signal(v, signal.SIGSTOP, "pause")
            time.sleep(1.5)
            os.kill(cl.proc[v].pid, signal.SIGCONT)
            hist.add("fault", fault="resume", node=v, paused_ms=1500)
            time.sleep(1.5)
    # let the sources finish (4 per 4 ms: 15000 in 15 s) and drain
    end = now() + 25
    while now() < end:
        done = all(cl.cli(s["node"], "call", s["pid"], "get",
                          record=False)["out"]["reply"][1] >= per_src
                   for s in srcs)
        if done:
            break
        time.sleep(0.5)
    time.sleep(1.5)
    sent = {}
    for s in srcs:
        r = cl.cli(s["node"], "call", s["pid"], "get", record=False)
        sent[s["pid"]] = r["out"]["reply"][1] if r["ok"] else None
    # What was sent may still be on its way (after a lossy phase TCP can
    # hold a connection back for seconds): the sinks are read until every
    # source's last message is in, or 30 s pass; a tail still missing
    # then is lost.
    end = now() + 30
    while True:
        stats = {}
        for n in cl.names:
            r = cl.cli(n, "call", sinks[n], "get", record=False)
            stats[n] = r["out"]["reply"] if r["ok"] else None
        last = {}
        for st in stats.values():
            rest = st[2:] if st else []
            for i in range(0, len(rest), 9):
                last[rest[i]] = rest[i + 2]
        if now() > end or all(sent[s["pid"]] is not None and
                              last.get(s["pid"]) == sent[s["pid"]]
                              for s in srcs):
            break
        time.sleep(0.5)
    hist.add("seq_summary", sources=srcs, sent=sent, sinks=stats)
    settle(cl, hist)
    return {"checks": ["convergence", "order"]}


SCENARIOS = {
    "R4": (sc_r4, "kill -9 of the registry leader during registrations",
           False),
    "R7": (sc_r7, "owner deaths and node deaths", False),
    "R1": (sc_r1, "partition and heal under registry churn", True),
    "R5": (sc_r5, "crash without FIN (packets dropped, then kill -9)", True),
    "R12": (sc_r12, "unauthenticated and wrong-key peers", False),
    "R11": (sc_r11, "malformed frames from an authenticated rogue peer",
            False),
    "R2": (sc_r2, "overlapping partition", True),
    "R8": (sc_r8, "ordering and no duplicates under loss and cuts", False),
    "R9": (sc_r9, "slow node: pauses and a CPU quota", False),
    "R13": (sc_r13, "mailbox flood under a memory cap", False),
}
ORDER = ["R4", "R7", "R1", "R5", "R12", "R11", "R2", "R8", "R9", "R13"]


# ---------------------------------------------------------------------------
# Running one scenario


class Cleanup:
    """Whatever happens (an exception, SIGINT, SIGTERM), the daemons die
    and the namespaces and cgroups go."""

    def __init__(self):
        self.items = []
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, self.on_signal)

    def on_signal(self, sig, frame):
        self.run()
        sys.stderr.write("harness: signal %d, cleaned up\n" % sig)
        os._exit(128 + sig)

    def run(self):
        while self.items:
            f = self.items.pop()
            try:
                f()
            except Exception as e:
                sys.stderr.write("harness: cleanup: %r\n" % e)


CLEANUP = None


def run_scenario(sid, seed, args, use_ns, why_no_ns, out_dir, serial):
    fn, title, needs_ns = SCENARIOS[sid]
    tag = "tc%d%s" % (os.getpid() % 100000, serial)
    work = tempfile.mkdtemp(prefix="troupe-cluster-%s-" % sid, dir=out_dir)
    hist_path = os.path.join(work, "history.jsonl")
    hist = History(hist_path)
    rnd = random.Random(seed)
    n_nodes = {"R7": 4, "R13": 2}.get(sid, 3)
    net = Net(tag, n_nodes, use_ns)
    cl = Cluster(args, net, hist, work, n_nodes)
    hist.add("meta", scenario=sid, title=title, seed=seed,
             mode="netns" if use_ns else "loopback", why_no_ns=why_no_ns,
             nodes=cl.names, heartbeat_ms=HEARTBEAT_MS, timeout_ms=TIMEOUT_MS)
    t0 = now()
    CLEANUP.items.append(net.teardown)
    CLEANUP.items.append(cl.stop_all)
    meta, err = {}, None
    try:
        net.setup()
        meta = fn(cl, net, hist, rnd, args) or {}
    except Exception as e:
        import traceback
        err = "%s\n%s" % (e, traceback.format_exc())
    finally:
        try:
            net.heal_all() if use_ns else None
        except Exception:
            pass
        cl.stop_all()
        CLEANUP.items.remove(cl.stop_all)
        net.teardown()
        CLEANUP.items.remove(net.teardown)
        cl.read_logs()
        hist.add("end", meta=meta, error=err, secs=round(now() - t0, 2))
        hist.close()
    report = check.check_file(hist_path)
    report["secs"] = round(now() - t0, 1)
    report["history"] = hist_path
    if err:
        report["violations"].insert(0, "harness error: " + err)
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True,
                    help="the directory of troupe-node and troupe")
    ap.add_argument("--bin-tests", required=True,
                    help="the directory of the rogue tool")
    ap.add_argument("--app", required=True, help="libchaos_app.so")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--soak", type=float, default=None, metavar="MINUTES")
    ap.add_argument("--tap", action="store_true")
    ap.add_argument("--loopback", action="store_true",
                    help="no namespaces, even as root")
    ap.add_argument("--keep", action="store_true",
                    help="keep the histories of passing scenarios too")
    ap.add_argument("--out", default=None,
                    help="where histories go (default: a temporary dir)")
    ap.add_argument("scenarios", nargs="*")
    args = ap.parse_args()
    args.app = os.path.abspath(args.app)
    global CLEANUP
    CLEANUP = Cleanup()
    out_dir = args.out or tempfile.mkdtemp(prefix="troupe-cluster-")
    os.makedirs(out_dir, exist_ok=True)
    tag = "tc%d" % (os.getpid() % 100000)
    if args.loopback:
        use_ns, why = False, "--loopback"
    else:
        use_ns, why = namespaces_usable(tag)
    if not use_ns:
        print("# no network namespaces (%s): loopback, kills and pauses only;"
              " the network-fault scenarios are skipped" % why, flush=True)
    else:
        print("# hosts in network namespaces on a bridge (%s-*)" % tag,
              flush=True)
    sel = [s.upper() for s in args.scenarios] or list(ORDER)
    for s in sel:
        if s not in SCENARIOS:
            ap.error("unknown scenario %s (known: %s)" % (s, " ".join(ORDER)))
    results = []
    t_start = now()
    plan = []
    if args.soak:
        rnd = random.Random(args.seed)
        deadline = t_start + args.soak * 60
    else:
        seed = args.seed if args.seed is not None else 1
        plan = [(s, seed) for s in sel]
    serial = 0
    if args.tap and not args.soak:
        print("1..%d" % len(plan), flush=True)
    while True:
        if args.soak:
            if now() >= deadline:
                break
            sid = rnd.choice(sel)
            seed = rnd.randrange(1, 1 << 31)
        else:
            if not plan:
                break
            sid, seed = plan.pop(0)
        serial += 1
        fn, title, needs_ns = SCENARIOS[sid]
        label = "%s %s (seed %d)" % (sid, title, seed)
        if needs_ns and not use_ns:
            results.append((sid, seed, "skip", None))
            print("ok %d - %s # SKIP needs network namespaces" %
                  (serial, label), flush=True)
            continue
        rep = run_scenario(sid, seed, args, use_ns, why, out_dir, serial)
        good = not rep["violations"]
        results.append((sid, seed, "pass" if good else "fail", rep))
        print("%s %d - %s: %d ops, %d faults, %d checks, %d violations%s, "
              "%.1f s" % ("ok" if good else "not ok", serial, label,
                          rep["ops"], rep["faults"], rep["checks"],
                          len(rep["violations"]),
                          " (+%d known bug)" % len(rep["known"])
                          if rep["known"] else "", rep["secs"]), flush=True)
        for line in rep["notes"]:
            print("#   %s" % line, flush=True)
        for line in rep["known"]:
            print("#   KNOWN BUG: %s" % line, flush=True)
        for v in rep["violations"][:20]:
            print("#   VIOLATION: %s" % v.replace("\n", "\n#   "),
                  flush=True)
        if not good:
            print("#   history: %s (replay: SEED=%d tests/cluster/run.sh %s)"
                  % (rep["history"], seed, sid), flush=True)
        elif not args.keep:
            shutil.rmtree(os.path.dirname(rep["history"]),
                          ignore_errors=True)
    if args.soak:
        print("1..%d" % serial, flush=True)
    tot = {k: sum(r[3][k] for r in results if r[3])
           for k in ("ops", "faults", "checks", "messages")}
    nknown = sum(len(r[3]["known"]) for r in results if r[3])
    nviol = sum(len(r[3]["violations"]) for r in results if r[3])
    passed = sum(1 for r in results if r[2] == "pass")
    failed = sum(1 for r in results if r[2] == "fail")
    skipped = sum(1 for r in results if r[2] == "skip")
    print("# %d scenarios in %.0f s (%s): %d passed, %d failed, %d skipped; "
          "%d ops, %d messages checked, %d faults, %d checks, %d violations, "
          "%d known bugs" % (
              len(results), now() - t_start,
              "netns" if use_ns else "loopback", passed, failed, skipped,
              tot["ops"], tot["messages"], tot["faults"], tot["checks"],
              nviol, nknown), flush=True)
    if failed:
        print("# failed: " + ", ".join("%s seed %d" % (r[0], r[1])
                                       for r in results if r[2] == "fail"))
    if not args.keep and not failed and not args.out:
        shutil.rmtree(out_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        if CLEANUP:
            CLEANUP.run()
