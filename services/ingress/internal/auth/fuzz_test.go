package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerifyToken feeds Verify arbitrary strings: it must never panic, and whatever it accepts
// must be a three-part token naming a client. Seeds are a valid token, tokens with other
// algorithms or kids, and their pieces; more are in testdata/fuzz/FuzzVerifyToken.
func FuzzVerifyToken(f *testing.F) {
	tokens := newTestTokens()
	valid, err := tokens.Issue(webClient, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	noneToken, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		valid,
		noneToken,
		tamper(valid),
		strings.Join(strings.Split(valid, ".")[:2], "."),
		valid + ".",
		"eyJhbGciOiJIUzI1NiIsImtpZCI6ImsyIn0.e30.",
		"",
		"...",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := tokens.Verify(token)
		if err != nil {
			return
		}
		if claims.ClientID == "" || strings.Count(token, ".") != 2 {
			t.Errorf("Verify(%q) accepted a token without a client or not in three parts: %+v", token, claims)
		}
	})
}
