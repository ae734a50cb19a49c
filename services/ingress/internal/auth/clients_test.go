package auth

import (
	"slices"
	"strings"
	"testing"
)

func TestParseClients(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		wantIDs []string
		wantErr string // substring; "" means no error
	}{
		{name: "two clients", give: "web:s3cret-web,app:s3cret-app", wantIDs: []string{"app", "web"}},
		{name: "spaces and empty items", give: " web:s3cret-web , ,app:s3cret-app,", wantIDs: []string{"app", "web"}},
		{name: "colon in secret", give: "web:a:b:c", wantIDs: []string{"web"}},
		{name: "missing colon", give: "web", wantErr: "entry 1 is not id:secret"},
		{name: "empty id", give: "web:x,:hunter2", wantErr: "entry 2 has an empty client id"},
		{name: "empty secret", give: "web:", wantErr: `client "web" has an empty secret`},
		{name: "duplicate", give: "web:hunter2,web:hunter3", wantErr: `client "web" is listed twice`},
		{name: "nothing", give: " , ", wantErr: "no clients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clients, err := ParseClients(tt.give)
			var gotIDs []string
			if clients != nil {
				gotIDs = clients.IDs()
			}
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if !slices.Equal(gotIDs, tt.wantIDs) {
				t.Errorf("IDs() = %v, want %v", gotIDs, tt.wantIDs)
			}
			if !strings.Contains(gotErr, tt.wantErr) || (tt.wantErr == "") != (gotErr == "") {
				t.Errorf("error = %q, want it to contain %q", gotErr, tt.wantErr)
			}
			if strings.Contains(gotErr, "hunter") {
				t.Errorf("error %q shows a secret", gotErr)
			}
		})
	}
}

func TestClientsAuthenticate(t *testing.T) {
	clients, err := ParseClients("web:s3cret-web,app:s3cret-app")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		id, secret string
		want       bool
	}{
		{name: "right secret", id: "web", secret: "s3cret-web", want: true},
		{name: "other client's secret", id: "web", secret: "s3cret-app", want: false},
		{name: "wrong secret", id: "web", secret: "s3cret-we", want: false},
		{name: "unknown client", id: "nobody", secret: "s3cret-web", want: false},
		{name: "empty", id: "", secret: "", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clients.Authenticate(tt.id, tt.secret); got != tt.want {
				t.Errorf("Authenticate(%q, ...) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}
