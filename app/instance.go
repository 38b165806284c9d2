package app

import (
	"fmt"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/store"
)

// instances holds one open database and engine per data directory across
// config reloads. Badger locks its directory, so opening it again from the
// new config would fail while the old one still runs.
var instances = caddy.NewUsagePool()

// instance is what the pool shares: the database and the engine over it.
type instance struct {
	db     *store.DB
	engine *engine.Engine
}

// Destruct closes the database when the last app using it is cleaned up.
func (i *instance) Destruct() error {
	i.engine.Close()
	return i.db.Close()
}

// openShared returns the instance for dataDir, opening it on first use.
func openShared(dataDir, keyFile string, logger *zap.Logger) (*instance, error) {
	val, _, err := instances.LoadOrNew(dataDir, func() (caddy.Destructor, error) {
		return openInstance(dataDir, keyFile, logger)
	})
	if err != nil {
		return nil, err
	}
	return val.(*instance), nil
}

func openInstance(dataDir, keyFile string, logger *zap.Logger) (*instance, error) {
	if keyFile == "" {
		keyFile = filepath.Join(dataDir, "encryption.key")
		if err := createKeyFileIfMissing(keyFile); err != nil {
			return nil, err
		}
	}
	key, err := readKeyFile(keyFile)
	if err != nil {
		return nil, err
	}

	db, err := store.Open(store.Options{
		Dir:           filepath.Join(dataDir, "db"),
		EncryptionKey: key,
		Logger:        logger.Named("badger"),
	})
	if err != nil {
		return nil, fmt.Errorf("%v (is another latchkey process using %s?)", err, dataDir)
	}
	eng, err := engine.New(db, logger)
	if err != nil {
		db.Close()
		return nil, err
	}
	logger.Info("database opened", zap.String("data_dir", dataDir))
	return &instance{db: db, engine: eng}, nil
}
