package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/writeback"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "settle test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	e := startEnv(t, envOptions{noReady: true, tweak: func(o *httpapi.Options) { o.TLSCert, o.TLSKey = certFile, keyFile }})
	url := strings.Replace(e.url, "http://", "https://", 1)
	c, err := httpapi.NewClient(url, "tok-operator", httpapi.ClientOptions{TLSConfig: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	testenv.Until(t, 10*time.Second, func() bool { return c.Ready(ctx) == nil })
	r, err := c.PostWriteback(ctx, writebackBody("tls-1", "T1", "TLS", keyA))
	if err != nil || r.Decision.Classification != writeback.DurableSuccessWritten {
		t.Fatalf("write-back over TLS: %+v %v", r, err)
	}
	// Plain HTTP to the TLS port fails; so does a client that does not
	// trust the certificate.
	plain, _ := httpapi.NewClient(e.url, "tok-operator", httpapi.ClientOptions{})
	if err := plain.Ready(ctx); err == nil {
		t.Fatal("plain HTTP was served on the TLS port")
	}
	untrusting, _ := httpapi.NewClient(url, "tok-operator", httpapi.ClientOptions{})
	if err := untrusting.Ready(ctx); settle.ErrorCode(err) != settle.Unavailable {
		t.Fatalf("untrusted certificate: %v", err)
	}
	// TLS needs both files.
	if _, err := httpapi.New(httpapi.Options{Ledger: e.ledger, Scenes: e.scenes, Events: e.events, TLSCert: certFile}); settle.ErrorCode(err) != settle.InvalidInput {
		t.Fatalf("cert without key: %v", err)
	}
}

func TestNewRefusesBadTokens(t *testing.T) {
	e := startEnv(t, envOptions{})
	base := httpapi.Options{Ledger: e.ledger, Scenes: e.scenes, Events: e.events}
	h := httpapi.HashToken("x")
	for name, toks := range map[string][]httpapi.Token{
		"short hash":              {{TokenSHA256: "abc", Principal: "p", Role: httpapi.RoleReader}},
		"unknown role":            {{TokenSHA256: h, Principal: "p", Role: "admin"}},
		"collector without a key": {{TokenSHA256: h, Principal: "p", Role: httpapi.RoleCollector}},
		"no principal":            {{TokenSHA256: h, Role: httpapi.RoleReader}},
		"the same token twice":    {{TokenSHA256: h, Principal: "p", Role: httpapi.RoleReader}, {TokenSHA256: strings.ToUpper(h), Principal: "q", Role: httpapi.RoleReader}},
	} {
		t.Run(name, func(t *testing.T) {
			o := base
			o.Tokens = toks
			if _, err := httpapi.New(o); settle.ErrorCode(err) != settle.InvalidInput {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, err := httpapi.New(httpapi.Options{Ledger: e.ledger}); settle.ErrorCode(err) != settle.InvalidInput {
		t.Fatalf("no stores: %v", err)
	}
}
