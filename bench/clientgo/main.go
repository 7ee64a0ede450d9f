// Command clientgo-bench runs ferrokube-bench's workloads with client-go, so that
// ferrokube-bench can show client-go beside ferrokube and kube-rs in the same run, against
// the same server. ferrokube-bench builds it (tests/go/build.sh) and runs it once per
// workload variant and content type; this program prints one JSON line of measurements on
// stdout (diagnostics go to stderr). See bench/README.md for what each figure means.
//
//	clientgo-bench --kubeconfig K --content-type json|protobuf --workload list  --limit 0|500 [--strip] --rounds R --expect N
//	clientgo-bench ... --workload watch --rv RV --events N --replays P [--strip] --rounds R --warmup W
//	clientgo-bench ... --workload cache --expect N [--strip]
//	clientgo-bench ... --workload get   --name POD --concurrency C --duration-ms D --rounds R
//
// Every timed run is preceded by an untimed warm-up of the same shape (connections, first
// allocations), as ferrokube-bench does for the Rust clients. CPU is this process's user +
// system time (getrusage), which includes Go's garbage collector; each round ends with a
// runtime.GC() that is inside the CPU figure but outside the clock, the counterpart of the
// Rust clients freeing their decoded objects after the clock stops.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	jsonType  = "application/json"
	protoType = "application/vnd.kubernetes.protobuf"
)

type options struct {
	kubeconfig, contentType, workload, namespace, name string
	limit, rounds, expect, events, replays, warmup     int
	concurrency, durationMs                            int
	rv                                                 string
	strip                                              bool
}

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the server")
	flag.StringVar(&o.contentType, "content-type", "json", "json or protobuf")
	flag.StringVar(&o.workload, "workload", "", "list, watch, cache or get")
	flag.StringVar(&o.namespace, "namespace", "default", "namespace of the pods")
	flag.StringVar(&o.name, "name", "", "get: the pod's name")
	flag.IntVar(&o.limit, "limit", 0, "list: page size (0: one response)")
	flag.IntVar(&o.rounds, "rounds", 1, "timed rounds after the warm-up")
	flag.IntVar(&o.expect, "expect", 0, "list/cache: objects expected")
	flag.IntVar(&o.events, "events", 0, "watch: events per watch")
	flag.IntVar(&o.replays, "replays", 1, "watch: watches per round (each replays the history)")
	flag.IntVar(&o.warmup, "warmup", 1000, "watch: events of the warm-up watch")
	flag.IntVar(&o.concurrency, "concurrency", 1, "get: requests in flight")
	flag.IntVar(&o.durationMs, "duration-ms", 2000, "get: duration of one round")
	flag.StringVar(&o.rv, "rv", "", "watch: resourceVersion to watch from")
	flag.BoolVar(&o.strip, "strip", false, "clear managedFields of every object (after decoding)")
	flag.Parse()
	out, err := run(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "clientgo-bench: %v\n", err)
		os.Exit(1)
	}
	out["content_type"] = o.contentType
	out["response_content_types"] = seenTypes()
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}

// seen records the Content-Type of every response, so that the harness can tell whether
// a protobuf run was answered in protobuf.
var seen sync.Map

type recorder struct{ next http.RoundTripper }

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		ct := resp.Header.Get("Content-Type")
		if i := strings.IndexByte(ct, ';'); i >= 0 {
			ct = ct[:i]
		}
		seen.Store(strings.TrimSpace(ct), true)
	}
	return resp, err
}

func seenTypes() []string {
	out := []string{}
	seen.Range(func(k, _ any) bool { out = append(out, k.(string)); return true })
	sort.Strings(out)
	return out
}

// clientset builds the clientset the way a program would (clientcmd), with the client-side
// rate limiter off (QPS < 0; client-go's default 5 QPS would measure the limiter, and the
// Rust clients run without one) and the content type chosen: JSON both ways, or protobuf
// (rest.Config.ContentType; client-go then accepts protobuf, falling back to JSON).
func clientset(o options) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS = -1
	switch o.contentType {
	case "json":
		cfg.ContentType = jsonType
		cfg.AcceptContentTypes = jsonType
	case "protobuf":
		cfg.ContentType = protoType
		cfg.AcceptContentTypes = protoType + "," + jsonType
	default:
		return nil, fmt.Errorf("--content-type %q: want json or protobuf", o.contentType)
	}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return recorder{rt} }
	return kubernetes.NewForConfig(cfg)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func run(o options) (map[string]any, error) {
	switch o.workload {
	case "list":
		return list(o)
	case "watch":
		return watchRun(o)
	case "cache":
		return cacheRun(o)
	case "get":
		return get(o)
	}
	return nil, fmt.Errorf("--workload %q: want list, watch, cache or get", o.workload)
}

// timedRounds runs f once untimed, then `rounds` times, each followed by a runtime.GC()
// inside the CPU figure and outside the clock; f returns its own seconds.
func timedRounds(rounds int, f func() (float64, error)) (secs, cpu []float64, err error) {
	if _, err := f(); err != nil {
		return nil, nil, fmt.Errorf("warm-up: %w", err)
	}
	runtime.GC()
	for i := 0; i < rounds; i++ {
		c0 := cpuSeconds()
		s, err := f()
		if err != nil {
			return nil, nil, err
		}
		runtime.GC()
		secs = append(secs, s)
		cpu = append(cpu, cpuSeconds()-c0)
	}
	return secs, cpu, nil
}

// list: typed LIST of every pod, in one response or following `continue` page by page
// (client-go's typed List, as a program pages by hand; tools/pager would do the same
// requests one after another). With --strip, managedFields are cleared after decoding,
// inside the clock. The decoded lists are kept until the clock stops.
func list(o options) (map[string]any, error) {
	cs, err := clientset(o)
	if err != nil {
		return nil, err
	}
	pods := cs.CoreV1().Pods(o.namespace)
	objects := 0
	once := func() (float64, error) {
		start := time.Now()
		var lists []*v1.PodList
		n := 0
		cont := ""
		for {
			l, err := pods.List(context.Background(), metav1.ListOptions{Limit: int64(o.limit), Continue: cont})
			if err != nil {
				return 0, fmt.Errorf("list: %w", err)
			}
			if o.strip {
				for i := range l.Items {
					l.Items[i].ManagedFields = nil
				}
			}
			n += len(l.Items)
			lists = append(lists, l)
			cont = l.Continue
			if o.limit == 0 || cont == "" {
				break
			}
		}
		secs := time.Since(start).Seconds()
		runtime.KeepAlive(lists)
		if o.expect > 0 && n != o.expect {
			return 0, fmt.Errorf("list returned %d pods, expected %d", n, o.expect)
		}
		objects = n
		return secs, nil
	}
	secs, cpu, err := timedRounds(o.rounds, once)
	if err != nil {
		return nil, err
	}
	return map[string]any{"objects": objects, "secs": secs, "cpu_secs": cpu}, nil
}

// watchRun: watches from --rv (the server replays its history) and applies --events
// ADDED/MODIFIED/DELETED events to a map namespace/name -> *Pod, --replays times per
// round; a round's seconds are the sum over its watches, from sending each request to
// applying its last event. With --strip, managedFields are cleared before inserting.
func watchRun(o options) (map[string]any, error) {
	cs, err := clientset(o)
	if err != nil {
		return nil, err
	}
	pods := cs.CoreV1().Pods(o.namespace)
	one := func(n int) (float64, error) {
		start := time.Now()
		cacheMap := make(map[string]*v1.Pod)
		w, err := pods.Watch(context.Background(), metav1.ListOptions{ResourceVersion: o.rv})
		if err != nil {
			return 0, fmt.Errorf("watch: %w", err)
		}
		defer w.Stop()
		seen := 0
		for seen < n {
			ev, ok := <-w.ResultChan()
			if !ok {
				return 0, fmt.Errorf("watch ended after %d of %d events", seen, n)
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				p, ok := ev.Object.(*v1.Pod)
				if !ok {
					return 0, fmt.Errorf("watch event object is %T", ev.Object)
				}
				if o.strip {
					p.ManagedFields = nil
				}
				cacheMap[p.Namespace+"/"+p.Name] = p
				seen++
			case watch.Deleted:
				if p, ok := ev.Object.(*v1.Pod); ok {
					delete(cacheMap, p.Namespace+"/"+p.Name)
				}
				seen++
			case watch.Bookmark:
			case watch.Error:
				return 0, fmt.Errorf("watch: ERROR event %v", ev.Object)
			}
		}
		secs := time.Since(start).Seconds()
		runtime.KeepAlive(cacheMap)
		return secs, nil
	}
	if _, err := one(min(o.warmup, o.events)); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	round := func() (float64, error) {
		total := 0.0
		for i := 0; i < o.replays; i++ {
			s, err := one(o.events)
			if err != nil {
				return 0, err
			}
			total += s
		}
		return total, nil
	}
	runtime.GC()
	var secs, cpu []float64
	for i := 0; i < o.rounds; i++ {
		c0 := cpuSeconds()
		s, err := round()
		if err != nil {
			return nil, err
		}
		runtime.GC()
		secs = append(secs, s)
		cpu = append(cpu, cpuSeconds()-c0)
	}
	return map[string]any{"objects": o.events * o.replays, "secs": secs, "cpu_secs": cpu}, nil
}

// heapAlloc: bytes of live heap objects after a full collection (runtime.MemStats
// HeapAlloc), and HeapInuse (the spans holding them) for the log.
func heapAlloc() (alloc, inuse uint64) {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.HeapInuse
}

// cacheRun: a pod informer from client-go's SharedInformerFactory (namespace-scoped, the
// namespace index it always has; client-go's defaults, so the initial state arrives by
// WatchList streaming where the server supports it, else by a paged list of 500), with
// SetTransform clearing managedFields when --strip (client-go's documented way). Runs
// until synced, then the informer and client are stopped and dropped and the store is
// kept: live heap after GC minus before, per object.
func cacheRun(o options) (map[string]any, error) {
	before, inuseBefore := heapAlloc()
	store, err := func() (cache.Store, error) {
		cs, err := clientset(o)
		if err != nil {
			return nil, err
		}
		factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(o.namespace))
		inf := factory.Core().V1().Pods().Informer()
		if o.strip {
			if err := inf.SetTransform(func(obj any) (any, error) {
				if p, ok := obj.(*v1.Pod); ok {
					p.ManagedFields = nil
				}
				return obj, nil
			}); err != nil {
				return nil, err
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 600*time.Second)
		defer cancel()
		factory.Start(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			return nil, errors.New("informer did not sync in 600 s")
		}
		cancel()
		factory.Shutdown()
		return inf.GetStore(), nil
	}()
	if err != nil {
		return nil, err
	}
	after, inuseAfter := heapAlloc()
	n := len(store.ListKeys())
	runtime.KeepAlive(store)
	if o.expect > 0 && n != o.expect {
		return nil, fmt.Errorf("store holds %d objects, expected %d", n, o.expect)
	}
	fmt.Fprintf(os.Stderr, "clientgo-bench cache: HeapAlloc %+d B, HeapInuse %+d B for %d objects\n",
		int64(after)-int64(before), int64(inuseAfter)-int64(inuseBefore), n)
	return map[string]any{
		"objects":          n,
		"bytes":            int64(after) - int64(before),
		"heap_inuse_bytes": int64(inuseAfter) - int64(inuseBefore),
	}, nil
}

// get: --concurrency goroutines GET one pod in a loop for --duration-ms, after a warm-up
// of a fifth of that; per round: requests/s, p50/p99 latency, CPU per request.
func get(o options) (map[string]any, error) {
	cs, err := clientset(o)
	if err != nil {
		return nil, err
	}
	pods := cs.CoreV1().Pods(o.namespace)
	d := time.Duration(o.durationMs) * time.Millisecond
	phase := func(d time.Duration) ([]time.Duration, float64, error) {
		start := time.Now()
		deadline := start.Add(d)
		lats := make([][]time.Duration, o.concurrency)
		errs := make([]error, o.concurrency)
		var wg sync.WaitGroup
		for i := 0; i < o.concurrency; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				l := make([]time.Duration, 0, 4096)
				for time.Now().Before(deadline) {
					t := time.Now()
					if _, err := pods.Get(context.Background(), o.name, metav1.GetOptions{}); err != nil {
						errs[i] = err
						return
					}
					l = append(l, time.Since(t))
				}
				lats[i] = l
			}(i)
		}
		wg.Wait()
		secs := time.Since(start).Seconds()
		var all []time.Duration
		for i := range lats {
			if errs[i] != nil {
				return nil, 0, fmt.Errorf("get: %w", errs[i])
			}
			all = append(all, lats[i]...)
		}
		if len(all) == 0 {
			return nil, 0, errors.New("no request completed")
		}
		return all, secs, nil
	}
	var rps, p50, p99, cpuUs []float64
	for r := 0; r < o.rounds; r++ {
		if _, _, err := phase(d / 5); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		c0 := cpuSeconds()
		lat, secs, err := phase(d)
		if err != nil {
			return nil, err
		}
		cpu := cpuSeconds() - c0
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		pct := func(q float64) float64 {
			i := int(math.Ceil(float64(len(lat))*q)) - 1
			i = max(0, min(i, len(lat)-1))
			return lat[i].Seconds() * 1e3
		}
		rps = append(rps, float64(len(lat))/secs)
		p50 = append(p50, pct(0.50))
		p99 = append(p99, pct(0.99))
		cpuUs = append(cpuUs, cpu*1e6/float64(len(lat)))
	}
	return map[string]any{"rps": rps, "p50_ms": p50, "p99_ms": p99, "cpu_us": cpuUs}, nil
}
