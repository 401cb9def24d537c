package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/admin"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/adminclient"
)

// adminFlags are the flags of every command that uses the admin endpoints.
type adminFlags struct {
	host, dataDir *string
}

func addAdminFlags(fs *flag.FlagSet) adminFlags {
	return adminFlags{
		host:    fs.String("host", defaultHost(), "localcloud address host:port"),
		dataDir: fs.String("data-dir", os.Getenv(adminclient.EnvDataDir), "the data directory of that localcloud (its "+admin.TokenFile+" is sent to the admin endpoints)"),
	}
}

// client checks that the token can be found: $LOCALCLOUD_TOKEN, else
// --data-dir / $LOCALCLOUD_DATA_DIR.
func (f adminFlags) client() (*adminClient, error) {
	c, err := adminclient.FromEnv(*f.host, *f.dataDir)
	if errors.Is(err, adminclient.ErrNoToken) {
		return nil, usagef("%v", err)
	}
	if err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	return &adminClient{c}, nil
}

// adminClient is the admin API client with the CLI's deadlines and error
// messages.
type adminClient struct{ *adminclient.Client }

// get decodes GET /_localcloud/<what>.
func (a *adminClient) get(what string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return a.hint(a.Get(ctx, what, v))
}

// hint names the flag and variable that set the address when localcloud
// cannot be reached.
func (a *adminClient) hint(err error) error {
	if errors.Is(err, adminclient.ErrUnreachable) {
		return fmt.Errorf("%w (--host, $AGENTNET_EMULATOR_HOST)", err)
	}
	return err
}
