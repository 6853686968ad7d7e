package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// keyPair is a certificate with its private key, PEM encoded.
type keyPair struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}

func newCA(cn string) (*keyPair, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM: keyPEM}, nil
}

type leafSpec struct {
	cn     string
	orgs   []string
	server bool
	client bool
	dns    []string
	ips    []net.IP
}

func (ca *keyPair) issue(s leafSpec) (*keyPair, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: s.cn, Organization: s.orgs},
		NotBefore:    now,
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     s.dns,
		IPAddresses:  s.ips,
	}
	if s.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if s.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM: keyPEM}, nil
}

func (kp *keyPair) write(dir, name string) error {
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), kp.certPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".key"), kp.keyPEM, 0o600)
}

// kubeconfig renders a kubeconfig with an embedded client certificate.
func kubeconfig(server string, ca, client *keyPair, user string) []byte {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: kubedx
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: kubedx
  context:
    cluster: kubedx
    user: %s
current-context: kubedx
`, server, b64(ca.certPEM), user, b64(client.certPEM), b64(client.keyPEM), user)
}

// writePKI creates every certificate, key and kubeconfig the plane needs under dir.
func writePKI(dir string, apiserverURL string) error {
	pki := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	ca, err := newCA("kubedx-testcluster-ca")
	if err != nil {
		return err
	}
	if err := ca.write(pki, "ca"); err != nil {
		return err
	}
	serving, err := ca.issue(leafSpec{
		cn:     "kube-apiserver",
		server: true,
		dns:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		ips:    []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1"), net.ParseIP(advertiseAddress)},
	})
	if err != nil {
		return err
	}
	if err := serving.write(pki, "apiserver"); err != nil {
		return err
	}
	// The apiserver's identity towards kubelets: bound to system:kubelet-api-admin (manifests.yaml);
	// only the real node (--real-node) serves the kubelet API, kwok serves none.
	kubeletClient, err := ca.issue(leafSpec{cn: "kube-apiserver-kubelet-client", orgs: []string{"kubeadm:cluster-admins"}, client: true})
	if err != nil {
		return err
	}
	if err := kubeletClient.write(pki, "apiserver-kubelet-client"); err != nil {
		return err
	}

	// Service-account token signing key (ES256).
	saKey, saKeyPEM, err := newKey()
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pki, "sa.key"), saKeyPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pki, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return err
	}

	identities := []struct {
		file string
		cn   string
		orgs []string
	}{
		{"kubeconfig", "kubedx-admin", []string{"system:masters"}},
		{"controller-manager.kubeconfig", "system:kube-controller-manager", nil},
		{"scheduler.kubeconfig", "system:kube-scheduler", nil},
		// kwok plays every kubelet; it needs to write Nodes, Leases, Pod status and Events
		// for several nodes, which the Node authorizer would not allow a single identity.
		{"kwok.kubeconfig", "kubedx-kwok", []string{"system:masters"}},
	}
	for _, id := range identities {
		kp, err := ca.issue(leafSpec{cn: id.cn, orgs: id.orgs, client: true})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, id.file), kubeconfig(apiserverURL, ca, kp, id.cn), 0o600); err != nil {
			return err
		}
		if id.file == "kubeconfig" {
			// The supervisor's own readiness checks use the admin identity too.
			if err := kp.write(pki, "admin"); err != nil {
				return err
			}
		}
	}
	return nil
}
