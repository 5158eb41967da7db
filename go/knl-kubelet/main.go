// Command knl-kubelet is a kubenetlab lab node's kubelet: upstream virtual-kubelet (node
// registration, Lease heartbeats, the pod controller, the kubelet API that `kubectl logs`
// and `kubectl exec` reach through the API server) with a provider that runs each Pod as a
// network namespace wired by kubenetlab and its containers as host processes inside it.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	logruslogger "github.com/virtual-kubelet/virtual-kubelet/log/logrus"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"kubenetlab.local/knl-kubelet/provider"
)

type options struct {
	node, nodeIP, kubeconfig, cert, key, ca, images, stateDir, lab, podnet, version string
	logLevel                                                                        string
	port                                                                            int
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.node, "node", "", "the Node's name")
	flag.StringVar(&o.nodeIP, "node-ip", "", "the node's InternalIP (its fabric address)")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig with the node's identity")
	flag.StringVar(&o.cert, "tls-cert", "", "serving certificate for the kubelet API")
	flag.StringVar(&o.key, "tls-key", "", "its key")
	flag.StringVar(&o.ca, "client-ca", "", "CA that signs the API server's kubelet-client certificate")
	flag.StringVar(&o.images, "image-map", "", "JSON file: image glob -> host program argv")
	flag.StringVar(&o.stateDir, "state-dir", "", "where container logs are kept")
	flag.StringVar(&o.lab, "lab", "", "the kubenetlab lab")
	flag.StringVar(&o.podnet, "podnet-socket", "", "the lab's pod-network server (kubenetlab.controlplane.podnet)")
	flag.StringVar(&o.version, "kubelet-version", "v0.0.0-knl", "kubeletVersion reported in NodeInfo")
	flag.IntVar(&o.port, "port", 10250, "kubelet API port")
	flag.StringVar(&o.logLevel, "log-level", "info", "virtual-kubelet's log level (debug, info, warn)")
	flag.Parse()
	return o
}

func main() {
	o := parseFlags()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "knl-kubelet: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	level, err := logrus.ParseLevel(o.logLevel)
	if err != nil {
		return err
	}
	logger := logrus.New()
	logger.SetLevel(level)
	log.L = logruslogger.FromLogrus(logrus.NewEntry(logger))
	if o.node == "" || o.nodeIP == "" || o.kubeconfig == "" {
		return fmt.Errorf("--node, --node-ip and --kubeconfig are required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	images, err := provider.LoadImageMap(o.images)
	if err != nil {
		return err
	}
	withServerTLS, err := serverTLS(o)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()

	mux := http.NewServeMux()
	newProvider := func(pc nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
		describeNode(pc.Node, o)
		p := provider.New(provider.Config{
			Node: o.node, NodeIP: o.nodeIP, Lab: o.lab, StateDir: o.stateDir,
			Images: images, PodNet: o.podnet,
			Finalize: func(ctx context.Context, namespace, name string, uid types.UID) error {
				opts := metav1.NewDeleteOptions(0)
				opts.Preconditions = metav1.NewUIDPreconditions(string(uid))
				err := client.CoreV1().Pods(namespace).Delete(ctx, name, *opts)
				if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
					return nil // gone already, or a new pod of the same name
				}
				return err
			},
		})
		// no node provider: virtual-kubelet's naive one marks the node Ready once the pod
		// controller runs and renews its Lease
		return p, nil, nil
	}
	n, err := nodeutil.NewNode(o.node, newProvider,
		nodeutil.WithClient(client),
		nodeutil.WithTLSConfig(withServerTLS),
		nodeutil.AttachProviderRoutes(mux),
		func(c *nodeutil.NodeConfig) error {
			c.HTTPListenAddr = net.JoinHostPort(o.nodeIP, fmt.Sprint(o.port))
			// Client certificates are checked by TLS: only the lab's CA signs them.
			c.Handler = nodeutil.WithAuth(nodeutil.NoAuth(), mux)
			c.InformerResyncPeriod = time.Minute
			c.NumWorkers = 4
			return nil
		},
	)
	if err != nil {
		return err
	}
	go func() {
		if err := n.Run(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "knl-kubelet: node stopped: %v\n", err)
			cancel()
		}
	}()
	if err := n.WaitReady(ctx, 60*time.Second); err != nil {
		return fmt.Errorf("node %s not ready: %w", o.node, err)
	}
	fmt.Fprintf(os.Stderr, "knl-kubelet: node %s ready\n", o.node)
	<-ctx.Done()
	return nil
}

// serverTLS serves the kubelet API with the node's certificate and accepts only clients
// whose certificate the lab's CA signed (the API server's kubelet client).
func serverTLS(o options) (func(*tls.Config) error, error) {
	pair, err := tls.LoadX509KeyPair(o.cert, o.key)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(o.ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", o.ca)
	}
	return func(c *tls.Config) error {
		c.Certificates = []tls.Certificate{pair}
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.MinVersion = tls.VersionTLS12
		return nil
	}, nil
}

// describeNode fills what a kubelet reports about its node.
func describeNode(node *corev1.Node, o options) {
	// NodeRestriction lets a kubelet set only these (virtual-kubelet's "type" and
	// "kubernetes.io/role" defaults are refused)
	delete(node.Labels, "type")
	delete(node.Labels, "kubernetes.io/role")
	node.Labels["kubernetes.io/os"] = "linux"
	node.Labels["kubernetes.io/arch"] = runtime.GOARCH
	node.Labels["node.kubernetes.io/instance-type"] = "kubenetlab"
	node.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: o.nodeIP},
		{Type: corev1.NodeHostName, Address: o.node},
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(provider.MemoryBytes(), resource.BinarySI),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node.Status.Capacity = capacity
	node.Status.Allocatable = capacity.DeepCopy()
	node.Status.NodeInfo = corev1.NodeSystemInfo{
		KubeletVersion:  o.version,
		OperatingSystem: "linux",
		Architecture:    runtime.GOARCH,
		KernelVersion:   provider.KernelVersion(),
		OSImage:         "kubenetlab lab node (network namespace)",
	}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(o.port)
	for i, c := range node.Status.Conditions {
		switch c.Type {
		case corev1.NodeReady:
			continue
		default:
			node.Status.Conditions[i].Status = corev1.ConditionFalse
			node.Status.Conditions[i].Reason = "KubeletHasNoPressure"
		}
	}
}
