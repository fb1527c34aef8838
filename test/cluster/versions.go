package cluster

// Versions of the components that make up the test control plane. Changing one
// changes the cache key, so the next EnsureBinaries builds anew.
const (
	// KubernetesVersion is the version of kube-apiserver,
	// kube-controller-manager, kube-scheduler and kubectl
	// (module k8s.io/kubernetes).
	KubernetesVersion = "v1.33.13"
	// EtcdVersion is the version of etcd and etcdctl.
	EtcdVersion = "v3.5.21"
	// KwokVersion is the version of kwok (module sigs.k8s.io/kwok).
	KwokVersion = "v0.7.0"

	// stagingVersion is the version of the published k8s.io staging modules
	// that match KubernetesVersion.
	stagingVersion = "v0.33.13"
	// kubeMajor and kubeMinor are stamped into the Kubernetes binaries.
	kubeMajor = "1"
	kubeMinor = "33"
)

// stagingModules are the modules that k8s.io/kubernetes replaces with its own
// staging/ directories; a module that requires k8s.io/kubernetes must replace
// each with the published module of the matching version.
var stagingModules = []string{
	"k8s.io/api",
	"k8s.io/apiextensions-apiserver",
	"k8s.io/apimachinery",
	"k8s.io/apiserver",
	"k8s.io/cli-runtime",
	"k8s.io/client-go",
	"k8s.io/cloud-provider",
	"k8s.io/cluster-bootstrap",
	"k8s.io/code-generator",
	"k8s.io/component-base",
	"k8s.io/component-helpers",
	"k8s.io/controller-manager",
	"k8s.io/cri-api",
	"k8s.io/cri-client",
	"k8s.io/csi-translation-lib",
	"k8s.io/dynamic-resource-allocation",
	"k8s.io/endpointslice",
	"k8s.io/externaljwt",
	"k8s.io/kms",
	"k8s.io/kube-aggregator",
	"k8s.io/kube-controller-manager",
	"k8s.io/kube-proxy",
	"k8s.io/kube-scheduler",
	"k8s.io/kubectl",
	"k8s.io/kubelet",
	"k8s.io/metrics",
	"k8s.io/mount-utils",
	"k8s.io/pod-security-admission",
	"k8s.io/sample-apiserver",
	"k8s.io/sample-cli-plugin",
	"k8s.io/sample-controller",
}

// cacheKey names the cache directory of one set of versions.
func cacheKey() string {
	return "k8s-" + KubernetesVersion + "-etcd-" + EtcdVersion + "-kwok-" + KwokVersion
}
