"""What the Kubernetes schemas cannot check in deploy/k8s/: the promises the README makes about the
deployment. Run by scripts/check-deploy with the manifests as arguments; exits 1 naming every
broken promise."""

import re
import sys

import yaml

problems = []


def need(ok, what):
    if not ok:
        problems.append(what)


def memory_bytes(q):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    m = re.fullmatch(r"(\d+)([KMG]i?)?", str(q))
    if not m:
        raise SystemExit(f"memory quantity {q!r} not understood")
    return int(m.group(1)) * units.get(m.group(2) or "", 1)


docs = {}
for path in sys.argv[1:]:
    with open(path) as f:
        for d in yaml.safe_load_all(f):
            if d:
                docs[d["kind"]] = d

for kind in ["Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget"]:
    need(kind in docs, f"no {kind}")
if problems:
    sys.exit("\n".join(problems))

dep, svc, cm = docs["Deployment"], docs["Service"], docs["ConfigMap"]
hpa, pdb = docs["HorizontalPodAutoscaler"], docs["PodDisruptionBudget"]
pod = dep["spec"]["template"]["spec"]
labels = dep["spec"]["template"]["metadata"]["labels"]
[server] = [c for c in pod["containers"] if c["name"] == "sportello"]

# Replicas, probes, ports.
need(dep["spec"]["replicas"] >= 2, "the Deployment has fewer than 2 replicas")
ru = dep["spec"]["strategy"]["rollingUpdate"]
need(dep["spec"]["strategy"]["type"] == "RollingUpdate" and ru["maxUnavailable"] == 0, "a rollout may take a replica away before its replacement is ready (maxUnavailable must be 0)")
need(server["readinessProbe"]["httpGet"]["path"] == "/readyz", "readinessProbe is not on /readyz")
need(server["livenessProbe"]["httpGet"]["path"] == "/healthz", "livenessProbe is not on /healthz")
ports = {p["name"]: p["containerPort"] for p in server["ports"]}
need(ports.get("http") == 8080, "the server's port `http` is not 8080")
for probe in ["startupProbe", "readinessProbe", "livenessProbe"]:
    need(server[probe]["httpGet"]["port"] in ("http", 8080), f"{probe} is not on the server's port")

# Resources: requests and a memory limit on every container.
for c in pod["containers"] + pod.get("initContainers", []):
    r = c.get("resources", {})
    need("cpu" in r.get("requests", {}) and "memory" in r.get("requests", {}), f"{c['name']}: no cpu and memory requests")
    need("memory" in r.get("limits", {}), f"{c['name']}: no memory limit")
    if "memory" in r.get("limits", {}) and "memory" in r.get("requests", {}):
        need(memory_bytes(r["limits"]["memory"]) >= memory_bytes(r["requests"]["memory"]), f"{c['name']}: memory limit below the request")

# Security: non-root, read-only root file system, no capabilities, for every container.
need(pod["securityContext"].get("runAsNonRoot") is True, "the pod may run as root")
need(pod.get("automountServiceAccountToken") is False, "the pod gets a service-account token it does not need")
need(pod.get("enableServiceLinks") is False, "service links would add SPORTELLO_* variables of the Service to the settings")
for c in pod["containers"] + pod.get("initContainers", []):
    sc = c.get("securityContext", {})
    need(sc.get("readOnlyRootFilesystem") is True, f"{c['name']}: root file system writable")
    need(sc.get("allowPrivilegeEscalation") is False, f"{c['name']}: privilege escalation allowed")
    need(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{c['name']}: capabilities not all dropped")

# The bundle: read-only where the server reads it, filled by the init container.
env = cm["data"]
need(env.get("SPORTELLO_LISTEN") == "0.0.0.0:8080", "SPORTELLO_LISTEN is not 0.0.0.0:8080")
mounts = {m["mountPath"]: m for m in server.get("volumeMounts", [])}
bundle = env.get("SPORTELLO_BUNDLE")
need(bundle in mounts and mounts[bundle].get("readOnly") is True, f"the bundle {bundle} is not mounted read-only in the server")
if bundle in mounts:
    vol = mounts[bundle]["name"]
    fillers = [c for c in pod.get("initContainers", []) if any(m["name"] == vol and not m.get("readOnly") for m in c.get("volumeMounts", []))]
    need(len(fillers) == 1, f"no init container fills the bundle volume `{vol}`")
need(any(e.get("configMapRef", {}).get("name") == cm["metadata"]["name"] for e in server.get("envFrom", [])), "the server does not read the ConfigMap")
# Privacy: the rate limit reads the client behind the ingress only from trusted proxies; the
# config must never turn on anything that logs requests in detail.
need(str(env.get("SPORTELLO_CHECK_BEFORE_READY", "")).lower() == "true", "pods may be ready before their bundle's hashes are checked (SPORTELLO_CHECK_BEFORE_READY)")
need(not str(env.get("RUST_LOG", "")).count("trace") and not str(env.get("RUST_LOG", "")).count("debug"), "RUST_LOG is debug or trace")

# Graceful termination: the preStop sleep and the server's 10 s drain fit in the grace period.
pre = server["lifecycle"]["preStop"]
sleep = int(pre["exec"]["command"][1]) if "exec" in pre else int(pre["sleep"]["seconds"])
need(sleep >= 1, "no preStop pause before SIGTERM")
need(pod["terminationGracePeriodSeconds"] >= sleep + 10, "terminationGracePeriodSeconds shorter than preStop + the 10 s drain")

# Service, HPA and PDB aim at these pods.
need(all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()), "the Service does not select the pods")
need(all(p["targetPort"] in ports or p["targetPort"] in ports.values() for p in svc["spec"]["ports"]), "the Service's targetPort is not a port of the server")
need(hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"], "the HPA does not scale the Deployment")
need(hpa["spec"]["minReplicas"] >= 2, "the HPA may scale below 2 replicas")
need(any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"]), "the HPA does not scale on CPU")
need(pdb["apiVersion"] == "policy/v1" and all(labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items()), "the PDB does not cover the pods")

if problems:
    print("\n".join(f"deploy/k8s: {p}" for p in problems), file=sys.stderr)
    sys.exit(1)
print(f"[check-deploy] deployment promises hold ({len(docs)} kinds checked)")
