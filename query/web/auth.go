package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// User is who made a request, as an Authenticator found.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// ErrUnauthenticated is returned by an Authenticator when a request carries no credentials it
// accepts; the server answers 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// An Authenticator says who made a request. It returns an error wrapping ErrUnauthenticated
// when the request has no valid credentials; any other error is a failure to check them (500).
type Authenticator interface {
	Authenticate(r *http.Request) (*User, error)
}

// An Authorizer says whether a user may read the recorded history of a namespace; namespace ""
// stands for cluster-scoped objects and all namespaces at once.
type Authorizer interface {
	Authorize(ctx context.Context, u *User, namespace string) (bool, error)
}

// tokenCookie holds the bearer token a browser gave on the login page.
const tokenCookie = "khist_token"

// bearer returns the token of an Authorization: Bearer header, else of the login cookie.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if c, err := r.Cookie(tokenCookie); err == nil && c.Value != "" {
			return c.Value, true
		}
		return "", false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// tokenAuth reports whether an Authenticator takes bearer tokens (and so the login page).
func tokenAuth(a Authenticator) bool {
	switch a.(type) {
	case *TokenFile, *Kubernetes:
		return true
	}
	return false
}

// --- token file ---

// TokenFile authenticates bearer tokens listed in a file of kube-apiserver's
// --token-auth-file format: one token,user,uid,"group1,group2" per line (groups optional).
type TokenFile struct {
	users map[[32]byte]*User
}

// LoadTokenFile reads a token file.
func LoadTokenFile(path string) (*TokenFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--token-auth-file: %v", err)
	}
	defer f.Close()
	return ReadTokenFile(f, path)
}

// ReadTokenFile reads a token file's lines from r; name names it in errors.
func ReadTokenFile(r io.Reader, name string) (*TokenFile, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	tf := &TokenFile{users: map[[32]byte]*User{}}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("--token-auth-file %s: %v: write token,user,uid,\"group1,group2\" per line", name, err)
		}
		if len(rec) < 3 || rec[0] == "" || rec[1] == "" {
			l, _ := cr.FieldPos(0)
			return nil, fmt.Errorf("--token-auth-file %s: line %d: write token,user,uid,\"group1,group2\" (groups optional)", name, l)
		}
		u := &User{Name: rec[1], UID: rec[2]}
		if len(rec) > 3 {
			for _, g := range strings.Split(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		tf.users[sha256.Sum256([]byte(rec[0]))] = u
	}
	if len(tf.users) == 0 {
		return nil, fmt.Errorf("--token-auth-file %s: no tokens: write token,user,uid,\"group1,group2\" per line", name)
	}
	return tf, nil
}

// Authenticate accepts a bearer token of the file.
func (tf *TokenFile) Authenticate(r *http.Request) (*User, error) {
	tok, ok := bearer(r)
	if !ok {
		return nil, fmt.Errorf("%w: send Authorization: Bearer TOKEN", ErrUnauthenticated)
	}
	h := sha256.Sum256([]byte(tok))
	// The map is keyed by the hash: comparing hashes leaks nothing of a token's prefix.
	for k, u := range tf.users {
		if subtle.ConstantTimeCompare(k[:], h[:]) == 1 {
			return u, nil
		}
	}
	return nil, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
}

// --- authenticating proxy ---

// Proxy trusts the user and groups an authenticating proxy puts in request headers
// (X-Remote-User, X-Remote-Group), as kube-apiserver's --requestheader-* flags do, and only
// from a client that presented a certificate signed by the client CA (which the server's TLS
// configuration checks). Without it every request is unauthenticated.
type Proxy struct {
	UserHeaders  []string // default X-Remote-User
	GroupHeaders []string // default X-Remote-Group
	// AllowedNames, when set, are the common names the proxy's certificate may have.
	AllowedNames []string
}

// Authenticate reads the proxy's headers of a request made over a verified client certificate.
func (p *Proxy) Authenticate(r *http.Request) (*User, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, fmt.Errorf("%w: --auth=proxy takes requests only from the proxy's client certificate (--client-ca-file)", ErrUnauthenticated)
	}
	if len(p.AllowedNames) > 0 {
		cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
		ok := false
		for _, n := range p.AllowedNames {
			ok = ok || n == cn
		}
		if !ok {
			return nil, fmt.Errorf("%w: client certificate %q is not an allowed proxy", ErrUnauthenticated, cn)
		}
	}
	uh, gh := p.UserHeaders, p.GroupHeaders
	if len(uh) == 0 {
		uh = []string{"X-Remote-User"}
	}
	if len(gh) == 0 {
		gh = []string{"X-Remote-Group"}
	}
	u := &User{}
	for _, h := range uh {
		if v := r.Header.Get(h); v != "" {
			u.Name = v
			break
		}
	}
	if u.Name == "" {
		return nil, fmt.Errorf("%w: the proxy sent no %s header", ErrUnauthenticated, uh[0])
	}
	for _, h := range gh {
		u.Groups = append(u.Groups, r.Header.Values(h)...)
	}
	return u, nil
}

// --- Kubernetes ---

// Kubernetes authenticates bearer tokens with the cluster's TokenReview API and authorises
// each namespace with SubjectAccessReview: a user may read a namespace's history when they may
// get pods in it in the live cluster, and cluster-scoped history (namespace "") when they may
// get pods in every namespace. Answers are cached for TTL.
type Kubernetes struct {
	Client kubernetes.Interface
	// TTL is how long an answer is cached; default 10s.
	TTL time.Duration
	// Audiences of the tokens, for TokenReview; default: the API server's.
	Audiences []string
	// Now is the clock of the cache; default time.Now.
	Now func() time.Time

	mu    sync.Mutex
	users map[[32]byte]cached[*User]
	sars  map[string]cached[bool]
}

type cached[T any] struct {
	v   T
	err error
	exp time.Time
}

func (k *Kubernetes) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func (k *Kubernetes) ttl() time.Duration {
	if k.TTL > 0 {
		return k.TTL
	}
	return 10 * time.Second
}

// Authenticate checks the bearer token with a TokenReview.
func (k *Kubernetes) Authenticate(r *http.Request) (*User, error) {
	tok, ok := bearer(r)
	if !ok {
		return nil, fmt.Errorf("%w: send Authorization: Bearer TOKEN (a Kubernetes token, e.g. kubectl create token NAME)", ErrUnauthenticated)
	}
	key := sha256.Sum256([]byte(tok))
	now := k.now()
	k.mu.Lock()
	if c, ok := k.users[key]; ok && now.Before(c.exp) {
		k.mu.Unlock()
		return c.v, c.err
	}
	k.mu.Unlock()
	tr, err := k.Client.AuthenticationV1().TokenReviews().Create(r.Context(), &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: tok, Audiences: k.Audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("TokenReview: %v", err) // not cached: the API server may be back soon
	}
	var u *User
	if tr.Status.Authenticated {
		ui := tr.Status.User
		u = &User{Name: ui.Username, UID: ui.UID, Groups: ui.Groups}
		if len(ui.Extra) > 0 {
			u.Extra = map[string][]string{}
			for n, v := range ui.Extra {
				u.Extra[n] = v
			}
		}
	} else {
		err = fmt.Errorf("%w: the token was not accepted by the cluster", ErrUnauthenticated)
	}
	k.mu.Lock()
	if k.users == nil || len(k.users) > 10000 {
		k.users = map[[32]byte]cached[*User]{}
	}
	k.users[key] = cached[*User]{v: u, err: err, exp: now.Add(k.ttl())}
	k.mu.Unlock()
	return u, err
}

// Authorize asks a SubjectAccessReview whether the user may get pods in the namespace (in all
// namespaces for "").
func (k *Kubernetes) Authorize(ctx context.Context, u *User, namespace string) (bool, error) {
	key := u.Name + "\x00" + u.UID + "\x00" + strings.Join(u.Groups, ",") + "\x00" + namespace
	now := k.now()
	k.mu.Lock()
	if c, ok := k.sars[key]; ok && now.Before(c.exp) {
		k.mu.Unlock()
		return c.v, nil
	}
	k.mu.Unlock()
	spec := authzv1.SubjectAccessReviewSpec{
		User: u.Name, UID: u.UID, Groups: u.Groups,
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: namespace, Verb: "get", Resource: "pods"},
	}
	if len(u.Extra) > 0 {
		spec.Extra = map[string]authzv1.ExtraValue{}
		for n, v := range u.Extra {
			spec.Extra[n] = v
		}
	}
	sar, err := k.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("SubjectAccessReview: %v", err)
	}
	allowed := sar.Status.Allowed && !sar.Status.Denied
	k.mu.Lock()
	if k.sars == nil || len(k.sars) > 100000 {
		k.sars = map[string]cached[bool]{}
	}
	k.sars[key] = cached[bool]{v: allowed, exp: now.Add(k.ttl())}
	k.mu.Unlock()
	return allowed, nil
}
