package load

import (
	"fmt"
	"strings"
	"time"
)

// KwokAnnotations are the kwok pod annotations (pod template metadata, indented for the
// manifests below): pods become Ready after ready..ready+jitter; deleted ones are asked to go
// after 1-2s (on a busy cluster kwok removes them 1-30 s after the request).
func KwokAnnotations(ready, jitter time.Duration) string {
	return fmt.Sprintf(`        pod-create.stage.kwok.x-k8s.io/delay: "200ms"
        pod-create.stage.kwok.x-k8s.io/jitter-delay: "400ms"
        pod-ready.stage.kwok.x-k8s.io/delay: %q
        pod-ready.stage.kwok.x-k8s.io/jitter-delay: %q
        pod-delete.stage.kwok.x-k8s.io/delay: "1s"
        pod-delete.stage.kwok.x-k8s.io/jitter-delay: "1s"
`, ready.String(), (ready + jitter).String())
}

// Deployment is a Deployment manifest. strategy is the YAML under spec.strategy.
func Deployment(name string, replicas int, strategy, image string, extraSpec string, ready, jitter time.Duration) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  strategy:
%[3]s%[5]s
  template:
    metadata:
      labels: {app: %[1]s}
      annotations:
%[6]s    spec:
      containers:
      - name: app
        image: %[4]s
`, name, replicas, Indent(strategy, "    "), image, extraSpec, KwokAnnotations(ready, jitter))
}

// Rolling is the YAML of a RollingUpdate strategy (spec.strategy).
func Rolling(surge, unavailable string) string {
	return fmt.Sprintf("type: RollingUpdate\nrollingUpdate:\n  maxSurge: %s\n  maxUnavailable: %s\n", surge, unavailable)
}

// Indent prefixes every line of s with p (and ends it with a newline).
func Indent(s, p string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = p + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// StatefulSet is a headless Service and a StatefulSet with a volumeClaimTemplate bound to
// pre-created hostPath PersistentVolumes (the test cluster has no provisioner).
func StatefulSet(name string, replicas int, policy, updateStrategy, image, storageClass string, ready, jitter time.Duration) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  clusterIP: None
  selector: {app: %[1]s}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %[1]s
spec:
  serviceName: %[1]s
  replicas: %[2]d
  podManagementPolicy: %[3]s
  updateStrategy:
%[4]s  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
      annotations:
%[6]s    spec:
      containers:
      - name: app
        image: %[5]s
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: %[7]s
      resources: {requests: {storage: 1Gi}}
`, name, replicas, policy, Indent(updateStrategy, "    "), image, KwokAnnotations(ready, jitter), storageClass)
}

// Volumes are n hostPath PersistentVolumes of storage class manual-SCENARIO, which the
// scenario's StatefulSet claims.
func Volumes(sts string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv-%[1]s-%[2]d
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual-%[1]s
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /tmp/khist-pv-%[1]s-%[2]d}
`, sts, i)
	}
	return b.String()
}

// DaemonSet is DaemonSetUnavailable with one pod replaced at a time.
func DaemonSet(name, image string, ready, jitter time.Duration) string {
	return DaemonSetUnavailable(name, image, 1, ready, jitter)
}

// DaemonSetUnavailable is a DaemonSet on every node (it tolerates every taint) whose rolling
// update replaces up to maxUnavailable pods at a time.
func DaemonSetUnavailable(name, image string, maxUnavailable int, ready, jitter time.Duration) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: %[1]s
spec:
  selector:
    matchLabels: {app: %[1]s}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: %[4]d}
  template:
    metadata:
      labels: {app: %[1]s}
      annotations:
%[3]s    spec:
      tolerations: [{operator: Exists}]
      containers:
      - name: app
        image: %[2]s
`, name, image, KwokAnnotations(ready, jitter), maxUnavailable)
}

// Node is a kwok Node of 32 CPUs and 110 pods.
func Node(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Node
metadata:
  name: %[1]s
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: %[1]s
    type: kwok
status:
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
`, name)
}

// Service is a ClusterIP Service of port 80 in front of the pods labelled app=selector; the
// endpoints controller keeps its Endpoints (and EndpointSlices) as those pods come and go.
func Service(name, selector string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector: {app: %[2]s}
  ports: [{port: 80}]
`, name, selector)
}
