package cni

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

// ErrUnknownNetwork is wrapped by the error for a network name that no
// configuration defines.
var ErrUnknownNetwork = errors.New("unknown CNI network")

// capPortMappings is the runtime capability the portmap plugin declares.
const capPortMappings = "portMappings"

// loadNetworks reads every .conf, .conflist and .json file in dir, one
// network per name. A file that does not parse, or two files defining one
// name, is an error naming the files: the agent should refuse to start
// rather than attach containers to a network it half understands.
func loadNetworks(dir string) (map[string]*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(dir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		return nil, fmt.Errorf("cni: reading network configurations in %s: %w", dir, err)
	}
	slices.Sort(files)
	nets := map[string]*libcni.NetworkConfigList{}
	from := map[string]string{}
	for _, file := range files {
		list, err := loadFile(file)
		if err != nil {
			return nil, err
		}
		if prev, dup := from[list.Name]; dup {
			return nil, fmt.Errorf("cni: network %q is defined twice, in %s and %s", list.Name, prev, file)
		}
		nets[list.Name], from[list.Name] = list, file
	}
	return nets, nil
}

func loadFile(file string) (*libcni.NetworkConfigList, error) {
	if strings.HasSuffix(file, ".conflist") {
		list, err := libcni.ConfListFromFile(file)
		if err != nil {
			return nil, fmt.Errorf("cni: network configuration %s: %w", file, err)
		}
		return list, nil
	}
	//lint:ignore SA1019 single-plugin .conf files are still what many sites write
	conf, err := libcni.ConfFromFile(file)
	if err != nil {
		return nil, fmt.Errorf("cni: network configuration %s: %w", file, err)
	}
	//lint:ignore SA1019 as above
	list, err := libcni.ConfListFromConf(conf)
	if err != nil {
		return nil, fmt.Errorf("cni: network configuration %s: %w", file, err)
	}
	return list, nil
}

// hasCapability reports whether some plugin of list declares cap.
func hasCapability(list *libcni.NetworkConfigList, cap string) bool {
	for _, p := range list.Plugins {
		if p.Network != nil && p.Network.Capabilities[cap] {
			return true
		}
	}
	return false
}

// unknown is the error for a name no configuration defines.
func unknown(name string, nets map[string]*libcni.NetworkConfigList) error {
	known := slices.Sorted(maps.Keys(nets))
	if len(known) == 0 {
		return fmt.Errorf("cni: %w %q: no networks are configured", ErrUnknownNetwork, name)
	}
	return fmt.Errorf("cni: %w %q (configured: %s)", ErrUnknownNetwork, name, strings.Join(known, ", "))
}
