package collector

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// podTemplate is a Pod as the API server writes it for a Deployment's replica on a kwok node:
// about 4 KiB, a third of it managedFields.
const podTemplate = `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"nginx-deployment-7d9c6b8f5d-%05[1]d","generateName":"nginx-deployment-7d9c6b8f5d-","namespace":"%[2]s","uid":"%[3]s","resourceVersion":"%[4]d","creationTimestamp":"2026-01-10T10:00:00Z","labels":{"app":"nginx","pod-template-hash":"7d9c6b8f5d"},"annotations":{"kwok.x-k8s.io/ready-delay":"2s"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"nginx-deployment-7d9c6b8f5d","uid":"0e0b6e2c-3e5c-4d38-9d36-0f8e8c1b2a3d","controller":true,"blockOwnerDeletion":true}],"managedFields":[{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","time":"2026-01-10T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:kwok.x-k8s.io/ready-delay":{}},"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"0e0b6e2c-3e5c-4d38-9d36-0f8e8c1b2a3d\"}":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{".":{},"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}},{"manager":"kwok","operation":"Update","apiVersion":"v1","time":"2026-01-10T10:00:03Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:conditions":{"k:{\"type\":\"ContainersReady\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Initialized\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Ready\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}}},"f:containerStatuses":{},"f:hostIP":{},"f:phase":{},"f:podIP":{},"f:podIPs":{".":{},"k:{\"ip\":\"10.0.0.%[5]d\"}":{".":{},"f:ip":{}}},"f:startTime":{}}},"subresource":"status"}]},"spec":{"volumes":[{"name":"kube-api-access-x7k2p","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}}],"containers":[{"name":"nginx","image":"nginx:1.9.1","ports":[{"containerPort":80,"protocol":"TCP"}],"resources":{},"volumeMounts":[{"name":"kube-api-access-x7k2p","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","serviceAccount":"default","nodeName":"kwok-node-%[6]d","securityContext":{},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"},"status":{"phase":"Running","conditions":[{"type":"Initialized","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-01-10T10:00:01Z"},{"type":"Ready","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-01-10T10:00:03Z"},{"type":"ContainersReady","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-01-10T10:00:03Z"},{"type":"PodScheduled","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-01-10T10:00:00Z"}],"hostIP":"10.0.0.1","podIP":"10.0.0.%[5]d","podIPs":[{"ip":"10.0.0.%[5]d"}],"startTime":"2026-01-10T10:00:01Z","containerStatuses":[{"name":"nginx","state":{"running":{"startedAt":"2026-01-10T10:00:02Z"}},"lastState":{},"ready":true,"restartCount":0,"image":"nginx:1.9.1","imageID":"","started":true}],"qosClass":"BestEffort"}}`

// fakePod returns the JSON of pod i (a generated stand-in for what the API server sends).
func fakePod(i int, ns string, rv int) []byte {
	uid := fmt.Sprintf("%08x-1c2d-4e5f-8a9b-%012x", i, i*7919)
	return fmt.Appendf(nil, podTemplate, i, ns, uid, rv, i%250, i%2)
}

// stripKind removes the leading "kind" and "apiVersion" members, as in a List's items.
func stripKind(obj []byte) []byte {
	// {"kind":"Pod","apiVersion":"v1",...}
	i := 0
	for n := 0; n < 2; i++ {
		if obj[i] == ',' {
			n++
		}
	}
	return append([]byte{'{'}, obj[i:]...)
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
