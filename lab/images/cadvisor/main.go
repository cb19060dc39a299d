// Command cadvisor is the homelab lab's entry point for cAdvisor v0.49.1: the REAL cAdvisor
// library (github.com/google/cadvisor v0.49.1 from the Go module proxy: its container manager,
// the Docker, containerd, CRI-O, Podman and systemd container handlers, and its Prometheus
// collectors) behind a main written here. Upstream's main lives in a separate module,
// github.com/google/cadvisor/cmd, which the proxy serves at no version, so the lab cannot build
// it; this file wires up the same public library calls instead.
//
// What the lab's Swarm stacks rely on works as with the official image: /metrics (container,
// machine, Go and process metrics, with the container's Docker labels as container_label_*
// labels), /healthz, /validate/, and upstream's flags for those (-port, -listen_ip,
// -prometheus_endpoint, -docker_only, -housekeeping_interval, -disable_metrics and
// -enable_metrics with upstream's defaults, -store_container_labels, ...). Left out, because they
// live in the unavailable cmd module: the web UI (/containers/, /docker/), the REST API (/api/),
// the storage drivers (-storage_driver: InfluxDB, Kafka, ...), HTTP auth (-http_auth_file), the
// Mesos handler and the collector certificate flags. Passing one of those flags stops the program
// with "flag provided but not defined" rather than ignoring it. The cloud-provider probes are left
// out too: a Pi is no cloud VM, and on a cloud host they would query a metadata server.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/google/cadvisor/cache/memory"
	"github.com/google/cadvisor/container"
	v2 "github.com/google/cadvisor/info/v2"
	"github.com/google/cadvisor/manager"
	"github.com/google/cadvisor/metrics"
	"github.com/google/cadvisor/storage"
	"github.com/google/cadvisor/utils/sysfs"
	"github.com/google/cadvisor/validate"
	"github.com/google/cadvisor/version"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	// The container handlers upstream's binary registers, less Mesos (in the cmd module).
	_ "github.com/google/cadvisor/container/containerd/install"
	_ "github.com/google/cadvisor/container/crio/install"
	_ "github.com/google/cadvisor/container/docker/install"
	_ "github.com/google/cadvisor/container/podman/install"
	_ "github.com/google/cadvisor/container/systemd/install"
)

var (
	listenIP           = flag.String("listen_ip", "", "IP to listen on, defaults to all IPs")
	port               = flag.Int("port", 8080, "port to listen")
	maxProcs           = flag.Int("max_procs", 0, "max number of CPUs that can be used simultaneously. Less than 1 for default (number of cores).")
	printVersion       = flag.Bool("version", false, "print cAdvisor version and exit")
	prometheusEndpoint = flag.String("prometheus_endpoint", "/metrics", "Endpoint to expose Prometheus metrics on")
	profiling          = flag.Bool("profiling", false, "Enable profiling via web interface host:port/debug/pprof/")
	storeLabels        = flag.Bool("store_container_labels", true, "convert container labels and environment variables into labels on prometheus metrics for each container. If flag set to false, then only metrics exported are container name, first alias, and image name")
	allowedLabels      = flag.String("whitelisted_container_labels", "", "comma separated list of container labels to be converted to labels on prometheus metrics for each container. store_container_labels must be set to false for this to take effect.")
	envMetadata        = flag.String("env_metadata_whitelist", "", "a comma-separated list of environment variable keys matched with specified prefix that needs to be collected for containers, only support containerd and docker runtime for now.")
	urlBasePrefix      = flag.String("url_base_prefix", "", "prefix path that will be prepended to all paths to support some reverse proxies")
	rawCgroupPrefixes  = flag.String("raw_cgroup_prefix_whitelist", "", "A comma-separated list of cgroup path prefix that needs to be collected even when -docker_only is specified")
	perfEventsConfig   = flag.String("perf_events_config", "", "Path to a JSON file containing configuration of perf events to measure. Empty value disabled perf events measuring. (This build has no libpfm: perf events are not measured.)")
	resctrlInterval    = flag.Duration("resctrl_interval", 0, "Resctrl mon groups updating interval. Zero value disables updating mon groups.")
	storageDuration    = flag.Duration("storage_duration", 2*time.Minute, "How long to keep data stored (Default: 2min).")

	// v0.49.1's defaults, as its docs/runtime_options.md lists them: the costly or noisy kinds off.
	disabledMetrics = container.MetricSet{
		container.NetworkAdvancedTcpUsageMetrics: struct{}{},
		container.CPUTopologyMetrics:             struct{}{},
		container.CPUSetMetrics:                  struct{}{},
		container.HugetlbUsageMetrics:            struct{}{},
		container.MemoryNumaMetrics:              struct{}{},
		container.ProcessMetrics:                 struct{}{},
		container.ReferencedMemoryMetrics:        struct{}{},
		container.ResctrlMetrics:                 struct{}{},
		container.ProcessSchedulerMetrics:        struct{}{},
		container.NetworkTcpUsageMetrics:         struct{}{},
		container.NetworkUdpUsageMetrics:         struct{}{},
	}
	enabledMetrics = container.MetricSet{}
)

func init() {
	kinds := container.AllMetrics.String()
	flag.Var(&disabledMetrics, "disable_metrics", fmt.Sprintf("comma-separated list of `metrics` to be disabled. Options are %s.", kinds))
	flag.Var(&enabledMetrics, "enable_metrics", fmt.Sprintf("comma-separated list of `metrics` to be enabled. If set, overrides 'disable_metrics'. Options are %s.", kinds))
}

func main() {
	klog.InitFlags(nil)
	// Upstream's default verbosity, so that the logs read like the official image's.
	_ = flag.Set("v", "2")
	flag.Parse()
	defer klog.Flush()

	if *printVersion {
		fmt.Printf("cAdvisor version %s (%s)\n", version.Info["version"], version.Info["revision"])
		return
	}
	if err := serve(); err != nil {
		klog.Fatal(err)
	}
}

func serve() error {
	included := container.AllMetrics.Difference(disabledMetrics)
	if len(enabledMetrics) > 0 {
		included = enabledMetrics
	}
	klog.V(1).Infof("enabled metrics: %s", included.String())
	if *maxProcs > 0 {
		runtime.GOMAXPROCS(*maxProcs)
	}

	// The in-memory cache every cAdvisor keeps; no backend, as with an empty -storage_driver.
	klog.V(1).Infof("Caching stats in memory for %v", *storageDuration)
	cache := memory.New(*storageDuration, []storage.StorageDriver{})
	m, err := manager.New(cache, sysfs.NewRealSysFs(), manager.HousekeepingConfigFlags, included,
		http.DefaultClient, strings.Split(*rawCgroupPrefixes, ","), strings.Split(*envMetadata, ","),
		*perfEventsConfig, *resctrlInterval)
	if err != nil {
		return fmt.Errorf("failed to create a manager: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc(validate.ValidatePage, func(w http.ResponseWriter, _ *http.Request) {
		if err := validate.HandleRequest(w, m); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.Handle(*prometheusEndpoint, metricsHandler(m, included))
	if *profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	}

	if err := m.Start(); err != nil {
		return fmt.Errorf("failed to start manager: %w", err)
	}
	stopOnSignal(m)

	klog.V(1).Infof("Starting cAdvisor version: %s-%s on port %d", version.Info["version"], version.Info["revision"], *port)
	root := http.NewServeMux()
	root.Handle(*urlBasePrefix+"/", http.StripPrefix(*urlBasePrefix, mux))
	err = http.ListenAndServe(fmt.Sprintf("%s:%d", *listenIP, *port), root)
	return errors.Join(errors.New("the HTTP server stopped"), err)
}

// metricsHandler answers a scrape as upstream's does: the newest sample of every container
// (recursively from the root cgroup), the machine's metrics, and the Go and process metrics of
// cAdvisor itself. ?type=docker names containers by Docker ID instead of cgroup path, as upstream.
func metricsHandler(m manager.Manager, included container.MetricSet) http.Handler {
	labels := metrics.DefaultContainerLabels
	if !*storeLabels {
		labels = metrics.BaseContainerLabels(strings.Split(*allowedLabels, ","))
	}
	machine := metrics.NewPrometheusMachineCollector(m, included)
	goRuntime := prometheus.NewGoCollector()
	process := prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts := v2.RequestOptions{IdType: v2.TypeName, Count: 1, Recursive: true}
		switch t := r.URL.Query().Get("type"); t {
		case "", v2.TypeName:
		case v2.TypeDocker:
			opts.IdType = t
		default:
			http.Error(w, fmt.Sprintf("unknown type %q", t), http.StatusBadRequest)
			return
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(metrics.NewPrometheusCollector(m, labels, included, clock.RealClock{}, opts), machine, goRuntime, process)
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
	})
}

// stopOnSignal stops the manager's housekeeping before exiting on SIGINT or SIGTERM (docker stop).
func stopOnSignal(m manager.Manager) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-c
		if err := m.Stop(); err != nil {
			klog.Errorf("Failed to stop container manager: %v", err)
		}
		klog.Infof("Exiting given signal: %v", sig)
		klog.Flush()
		os.Exit(0)
	}()
}
