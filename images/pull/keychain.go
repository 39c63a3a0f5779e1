package pull

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// dockerConfig is the part of Docker's config.json that names
// credentials. Credential helpers are not run: the agent does not start
// programs named by a config file.
type dockerConfig struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
		RegistryToken string `json:"registrytoken"`
	} `json:"auths"`
}

// keychain answers credentials by registry host.
type keychain map[string]authn.AuthConfig

// parseDockerConfig reads a config.json given as a path or as JSON text.
func parseDockerConfig(src string) (keychain, error) {
	src = strings.TrimSpace(src)
	if src == "" {
		return keychain{}, nil
	}
	data := []byte(src)
	if !strings.HasPrefix(src, "{") {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("docker config: %w", err)
		}
		data = b
	}
	var cfg dockerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("docker config: %w", err)
	}
	kc := keychain{}
	for key, a := range cfg.Auths {
		ac := authn.AuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, fmt.Errorf("docker config: the auth of %s is not base64: %w", key, err)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf("docker config: the auth of %s is not user:password", key)
			}
			ac.Username, ac.Password = user, pass
		}
		kc[registryHost(key)] = ac
	}
	return kc, nil
}

// registryHost reduces an auths key ("https://host:5000/v1/", "host") to
// the host[:port] go-containerregistry asks for. Docker Hub's historical
// key is index.docker.io's.
func registryHost(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	key, _, _ = strings.Cut(key, "/")
	if key == "docker.io" || key == "registry-1.docker.io" {
		return "index.docker.io"
	}
	return key
}

// Resolve implements authn.Keychain.
func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if ac, ok := k[r.RegistryStr()]; ok {
		return authn.FromConfig(ac), nil
	}
	return authn.Anonymous, nil
}
