package config

import (
	"context"
	"io"
	"log/slog"
)

// The log settings every binary reads, through ReadLogging. Production logs JSON; `make run` sets
// LOG_FORMAT=text and KAFKA_LOG_LEVEL=warn for a console a person reads.
var (
	LogLevelVar  = Choice("LOG_LEVEL", "info", levels, "least severe log level written")
	LogFormatVar = Choice("LOG_FORMAT", "json", []string{"json", "text"},
		"json: one JSON object per line, for machines; text: key=value lines, for a console")
	// KafkaLogLevelVar is for binaries with a Kafka client: the franz-go client's own lines are
	// many at info (every metadata refresh, join and heartbeat change).
	KafkaLogLevelVar = Choice("KAFKA_LOG_LEVEL", "", levels,
		"least severe level of the Kafka client's own log lines; unset: LOG_LEVEL's").
		Show(func(v string) string {
			if v == "" {
				return "(LOG_LEVEL)"
			}
			return v
		})
)

var levels = []string{"debug", "info", "warn", "error", "off"}

// LevelOff, as a level, writes nothing.
const LevelOff = slog.Level(1 << 10)

// KafkaComponent is the "component" attribute value of the Kafka client's logger
// (kafka.ClientOpts): a logger given it logs at KAFKA_LOG_LEVEL.
const KafkaComponent = "kgo"

// Logging is how a binary logs.
type Logging struct {
	Level      slog.Level
	Format     string // json or text
	KafkaLevel slog.Level
}

// ReadLogging reads LOG_LEVEL, LOG_FORMAT and, when env's Set declares it, KAFKA_LOG_LEVEL.
func ReadLogging(env *Env) Logging {
	l := Logging{Level: parseLevel(LogLevelVar.Read(env)), Format: LogFormatVar.Read(env)}
	l.KafkaLevel = l.Level
	if env.set == nil || env.set.index[KafkaLogLevelVar.Name()] != nil {
		if v := KafkaLogLevelVar.Read(env); v != "" {
			l.KafkaLevel = parseLevel(v)
		}
	}
	return l
}

func parseLevel(v string) slog.Level {
	if v == "off" {
		return LevelOff
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		return slog.LevelInfo // Choice already refused it
	}
	return l
}

// Logger writes to w in the chosen format and levels, each line naming the service.
func (l Logging) Logger(w io.Writer, service string) *slog.Logger {
	log := slog.New(l.Handler(w))
	if service != "" {
		log = log.With("service", service)
	}
	return log
}

// Handler writes to w in the chosen format. A logger derived with component=kgo (the Kafka
// client's) logs at KafkaLevel, every other at Level.
func (l Logging) Handler(w io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: min(l.Level, l.KafkaLevel)}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if l.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return &leveled{inner: h, level: l.Level, kafka: l.KafkaLevel}
}

// leveled filters by its own level, which becomes the Kafka level once the component is kgo.
type leveled struct {
	inner        slog.Handler
	level, kafka slog.Level
}

func (h *leveled) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.inner.Enabled(ctx, l)
}

func (h *leveled) Handle(ctx context.Context, r slog.Record) error { return h.inner.Handle(ctx, r) }

func (h *leveled) WithAttrs(attrs []slog.Attr) slog.Handler {
	level := h.level
	for _, a := range attrs {
		if a.Key == "component" && a.Value.String() == KafkaComponent {
			level = h.kafka
		}
	}
	return &leveled{inner: h.inner.WithAttrs(attrs), level: level, kafka: h.kafka}
}

func (h *leveled) WithGroup(name string) slog.Handler {
	return &leveled{inner: h.inner.WithGroup(name), level: h.level, kafka: h.kafka}
}
