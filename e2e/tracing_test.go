package e2e

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// span is one span an OTLP receiver got, with the service that sent it.
type span struct {
	service, name     string
	trace, id, parent string
	links             []string          // "trace/span"
	attrs             map[string]string // string attributes
}

// otlpReceiver is an OTLP/HTTP trace receiver keeping every span in memory.
type otlpReceiver struct {
	url string
	mu  sync.Mutex
	all []span
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rcv := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		var req coltrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &req)
		}
		if r.URL.Path != "/v1/traces" || err != nil {
			http.Error(w, fmt.Sprintf("%s: %v", r.URL.Path, err), http.StatusBadRequest)
			return
		}
		rcv.add(&req)
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	rcv.url = srv.URL
	return rcv
}

func (rcv *otlpReceiver) add(req *coltrace.ExportTraceServiceRequest) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				sp := span{service: service, name: s.Name, trace: hex.EncodeToString(s.TraceId),
					id: hex.EncodeToString(s.SpanId), parent: hex.EncodeToString(s.ParentSpanId),
					attrs: map[string]string{}}
				for _, l := range s.Links {
					sp.links = append(sp.links, hex.EncodeToString(l.TraceId)+"/"+hex.EncodeToString(l.SpanId))
				}
				for _, a := range s.Attributes {
					sp.attrs[a.Key] = a.GetValue().GetStringValue()
				}
				rcv.all = append(rcv.all, sp)
			}
		}
	}
}

// find is the spans matching keep.
func (rcv *otlpReceiver) find(keep func(span) bool) []span {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var out []span
	for _, s := range rcv.all {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

func (rcv *otlpReceiver) describe() string {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var b strings.Builder
	for _, s := range rcv.all {
		fmt.Fprintf(&b, "\n  %s %q trace=%s id=%s parent=%s links=%v key=%s", s.service, s.name, s.trace, s.id, s.parent, s.links, s.attrs["messaging.kafka.message.key"])
	}
	return b.String()
}

// One event's spans, exported by the real binaries over OTLP, form one trace: the ingress
// request, its publish to events.raw, the forwarder's receive, its AdEventsX call and its
// dead-letter write. A record written by an upstream producer without a trace starts a new one,
// and a record `dlq replay` re-published starts a new trace linked to the one it failed in.
func TestTracesFollowAnEventAcrossKafka(t *testing.T) {
	rcv := startOTLPReceiver(t)
	otel := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + rcv.url, "OTEL_BSP_SCHEDULE_DELAY=100"}
	n := newNames(t)
	createTopics(t, n)
	s := startSim(t)
	in := startIngress(t, n, otel...)
	startForwarder(t, n, s, append(fastRetries, otel...)...)

	// An event AdEventsX refuses for good: delivered once (400) and dead-lettered as rejected.
	s.control(t, map[string]any{"fail_next": map[string]any{"count": 1, "status": 400}})
	rejected := newUUID()
	if code, body := in.post(t, sampleEvent(rejected)); code != http.StatusAccepted {
		t.Fatalf("POST /events = %d %s", code, body)
	}
	waitFor(t, 30*time.Second, func() (bool, string) { return len(readAll(t, n.dlq)) == 1, "the rejected event in the DLQ" })

	byKey := func(id, name string) func(span) bool {
		return func(s span) bool { return s.name == name && s.attrs["messaging.kafka.message.key"] == id }
	}
	var request, publish, receive, dlqWrite span
	waitFor(t, 30*time.Second, func() (bool, string) {
		p, r, d := rcv.find(byKey(rejected, n.events+" publish")), rcv.find(byKey(rejected, n.events+" receive")), rcv.find(byKey(rejected, n.dlq+" publish"))
		if len(p) != 1 || len(r) != 1 || len(d) != 1 {
			return false, "publish, receive and dead-letter spans of " + rejected + ":" + rcv.describe()
		}
		publish, receive, dlqWrite = p[0], r[0], d[0]
		req := rcv.find(func(s span) bool { return s.id == publish.parent })
		if len(req) != 1 {
			return false, "the ingress request span, parent of the publish"
		}
		request = req[0]
		return true, ""
	})
	inTrace := func(s span) bool { return s.trace == request.trace }
	deliver := rcv.find(func(s span) bool { return inTrace(s) && s.name == "adeventsx deliver" })
	attempts := rcv.find(func(s span) bool { return inTrace(s) && s.name == "POST /v1/conversions" })
	if len(deliver) != 1 || len(attempts) != 1 {
		t.Fatalf("in trace %s: %d delivery and %d attempt spans, want 1 and 1:%s", request.trace, len(deliver), len(attempts), rcv.describe())
	}
	tests := []struct {
		name          string
		span          span
		service       string
		parent        span
		wantParentSet bool
	}{
		{"request", request, "ingress", span{}, false},
		{"publish", publish, "ingress", request, true},
		{"receive", receive, "forwarder", publish, true},
		{"delivery", deliver[0], "forwarder", receive, true},
		{"attempt", attempts[0], "forwarder", deliver[0], true},
		{"dead-letter write", dlqWrite, "forwarder", receive, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.span.service != tt.service || tt.span.trace != request.trace {
				t.Errorf("%q from %s in trace %s, want from %s in %s", tt.span.name, tt.span.service, tt.span.trace, tt.service, request.trace)
			}
			if tt.wantParentSet && tt.span.parent != tt.parent.id {
				t.Errorf("%q's parent is %s, want %s (%q)", tt.span.name, tt.span.parent, tt.parent.id, tt.parent.name)
			}
		})
	}
	if request.name != "POST /events" {
		t.Errorf("request span %q, want POST /events", request.name)
	}

	// An upstream producer's record without a trace: its receive span starts a new trace.
	upstream := newUUID()
	if err := kafkaClient(t).ProduceSync(t.Context(), &kgo.Record{Topic: n.events, Key: []byte(upstream), Value: []byte(eventJSON(upstream))}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() (bool, string) {
		r := rcv.find(byKey(upstream, n.events+" receive"))
		if len(r) != 1 || r[0].parent != "" || r[0].trace == request.trace {
			return false, "a root receive span for the upstream record " + upstream + ":" + rcv.describe()
		}
		d := rcv.find(func(s span) bool { return s.trace == r[0].trace && s.name == "adeventsx deliver" })
		return len(d) == 1 && d[0].parent == r[0].id, "the upstream record's delivery in its new trace"
	})

	// The replay: a new trace, linked to the dead-letter write of the original one.
	if res := dlqRun(t, append([]string{"replay", "--name", "traced", "--force"}, dlqTopics(n)...)...); res.code != 0 {
		t.Fatalf("replay exit %d", res.code)
	}
	waitFor(t, 30*time.Second, func() (bool, string) { return s.times(t)[rejected] == 1, "the replayed event delivered" })
	var replayed span
	waitFor(t, 30*time.Second, func() (bool, string) {
		r := rcv.find(func(s span) bool { return byKey(rejected, n.events+" receive")(s) && s.trace != request.trace })
		if len(r) != 1 {
			return false, "the replayed record's receive span:" + rcv.describe()
		}
		replayed = r[0]
		return true, ""
	})
	if replayed.parent != "" || !slices.Contains(replayed.links, request.trace+"/"+dlqWrite.id) {
		t.Errorf("replayed receive span: parent %q, links %v; want a root linked to %s/%s (the dead-letter write)",
			replayed.parent, replayed.links, request.trace, dlqWrite.id)
	}
	waitFor(t, 30*time.Second, func() (bool, string) {
		d := rcv.find(func(s span) bool { return s.trace == replayed.trace && s.name == "adeventsx deliver" })
		return len(d) == 1 && d[0].parent == replayed.id, "the replayed event's delivery in the replay's trace:" + rcv.describe()
	})
	// Nothing traced the marker topic.
	if m := rcv.find(func(s span) bool { return strings.HasPrefix(s.name, n.delivered) }); len(m) != 0 {
		t.Errorf("%d spans on the marker topic", len(m))
	}
}
