package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// envDataDir names the environment variable that sets latchkey's data
// directory when --data-dir is not given.
const envDataDir = "LATCHKEY_DATA_DIR"

// options are the flags every command shares: where the admin endpoint is,
// where the API token is, and how to print.
type options struct {
	address    string
	configFile string
	adapter    string
	tokenFile  string
	dataDir    string
	json       bool
}

// addOptions registers the shared flags on cmd, as persistent flags so that
// they work after any subcommand.
func addOptions(cmd *cobra.Command) *options {
	o := new(options)
	f := cmd.PersistentFlags()
	f.StringVar(&o.address, "address", "",
		"admin endpoint of the running instance, e.g. unix//run/latchkey/admin.sock")
	f.StringVarP(&o.configFile, "config", "c", "",
		"config file to read the admin endpoint from, as caddy reload does")
	f.StringVarP(&o.adapter, "adapter", "a", "", "name of the adapter for --config")
	f.StringVar(&o.tokenFile, "token-file", "",
		"file holding the API token (default <data dir>/api_token)")
	f.StringVar(&o.dataDir, "data-dir", "", "latchkey's data directory "+
		"(default $"+envDataDir+", else latchkey in Caddy's data directory)")
	f.BoolVar(&o.json, "json", false, "print the REST API's JSON instead of text")
	return o
}

// resolveDataDir returns latchkey's data directory: --data-dir, then
// $LATCHKEY_DATA_DIR, then the directory the latchkey app uses by default.
func (o *options) resolveDataDir() (string, error) {
	dir := o.dataDir
	if dir == "" {
		dir = os.Getenv(envDataDir)
	}
	if dir == "" {
		dir = filepath.Join(caddy.AppDataDir(), "latchkey")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving data directory %s: %v", dir, err)
	}
	return abs, nil
}

// resolveTokenFile returns the API token file: --token-file, else the file
// the latchkey app generates in its data directory.
func (o *options) resolveTokenFile(dataDir string) string {
	if o.tokenFile != "" {
		return o.tokenFile
	}
	return filepath.Join(dataDir, "api_token")
}

// resolveAddress returns the admin endpoint to talk to: --address; else the
// admin address in --config, found the way caddy reload finds it; else
// latchkey's conventional socket in its data directory, if it exists; else
// Caddy's default (which honours $CADDY_ADMIN).
func (o *options) resolveAddress(dataDir string) (string, error) {
	if o.address != "" {
		return o.address, nil
	}
	if o.configFile != "" {
		addr, err := caddycmd.DetermineAdminAPIAddress("", nil, o.configFile, o.adapter)
		if err != nil {
			return "", fmt.Errorf("finding the admin address in %s: %v", o.configFile, err)
		}
		return addr, nil
	}
	if o.adapter != "" {
		return "", errors.New("--adapter needs --config")
	}
	sock := filepath.Join(dataDir, "admin.sock")
	if fi, err := os.Stat(sock); err == nil && fi.Mode().Type() == fs.ModeSocket {
		return "unix/" + sock, nil
	}
	return caddycmd.DetermineAdminAPIAddress("", nil, "", "")
}

// readToken reads the API token from path.
func readToken(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the API token (set --token-file or --data-dir): %v", err)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return "", fmt.Errorf("the API token file %s is empty", path)
	}
	return token, nil
}

// newClient resolves the flags into a client for the admin endpoint.
func (o *options) newClient() (*client, error) {
	dataDir, err := o.resolveDataDir()
	if err != nil {
		return nil, err
	}
	addr, err := o.resolveAddress(dataDir)
	if err != nil {
		return nil, err
	}
	token, err := readToken(o.resolveTokenFile(dataDir))
	if err != nil {
		return nil, err
	}
	return newClient(addr, token)
}
