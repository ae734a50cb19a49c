package configtest

import (
	"strings"
	"testing"

	"github.com/martech/eventfwd/libs/config"
)

var set = config.NewSet("svc", "",
	config.String("SVC_URL", "", "base URL").Required(),
	config.Int("SVC_SIZE", 64, 1, 100, "size"),
	config.Int("SVC_MIN", 1, 0, 10, "least"),
	config.Int("SVC_MAX", 9, 0, 10, "most"),
	config.LogLevelVar,
)

const readme = "# x\n\n## Configuration\n\n" +
	"| variable | default | read by | meaning |\n| --- | --- | --- | --- |\n" +
	"| `LOG_LEVEL` | `info` | all | level |\n" +
	"| `KAFKA_BROKERS` | `127.0.0.1:9092` | other | brokers |\n\n" +
	"**svc** (all of them: `bin/svc -h`):\n\n" +
	"| variable | default | meaning |\n| --- | --- | --- |\n" +
	"| `SVC_URL` | required | base URL |\n" +
	"| `SVC_SIZE` | 64 | size |\n" +
	"| `SVC_MIN` / `SVC_MAX` | 1 / 9 | bounds |\n\n" +
	"## Topics\n\n| variable | default |\n| --- | --- |\n| `SVC_ELSEWHERE` | x |\n"

func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"in step", func(s string) string { return s }, nil},
		{"a row missing", func(s string) string { return strings.Replace(s, "| `SVC_SIZE` | 64 | size |\n", "", 1) },
			[]string{"svc reads SVC_SIZE, which its table does not list"}},
		{"a row too many", func(s string) string { return strings.Replace(s, "| `SVC_SIZE` |", "| `SVC_SIZE` / `SVC_GONE` |", 1) },
			[]string{"the table lists SVC_GONE, which svc does not read"}},
		{"a shared row not read by it", func(s string) string { return strings.Replace(s, "| all |", "| forwarder |", 1) },
			[]string{"svc reads LOG_LEVEL, which its table does not list"}},
		{"a default drifted", func(s string) string { return strings.Replace(s, "| 64 |", "| 32 |", 1) },
			[]string{`SVC_SIZE: default column "32" does not show the default 64`}},
		{"a default of several drifted", func(s string) string { return strings.Replace(s, "| 1 / 9 |", "| 1 / 8 |", 1) },
			[]string{`SVC_MAX: default column "8" does not show the default 9`}},
		{"required not said", func(s string) string { return strings.Replace(s, "| required |", "| none |", 1) },
			[]string{`SVC_URL: default column "none" does not say required`}},
		{"no table", func(s string) string { return strings.Replace(s, "**svc**", "**other**", 1) },
			[]string{"svc reads SVC_URL, which its table does not list", "svc reads SVC_SIZE, which its table does not list",
				"svc reads SVC_MIN, which its table does not list", "svc reads SVC_MAX, which its table does not list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Problems(set, tt.edit(readme))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("Problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
