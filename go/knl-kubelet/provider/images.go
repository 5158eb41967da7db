package provider

import (
	"encoding/json"
	"fmt"
	"os"
	"path"

	corev1 "k8s.io/api/core/v1"
)

// ImageMap maps image globs (path.Match syntax, on the whole image reference) to the host
// program that stands for the image's ENTRYPOINT. Images are never pulled.
type ImageMap []ImageEntry

// ImageEntry is one line of the map, in the order the lab spec gives them.
type ImageEntry struct {
	Glob    string   `json:"image"`
	Program []string `json:"program"`
}

// LoadImageMap reads the JSON list the lab writes; an empty path is an empty map.
func LoadImageMap(file string) (ImageMap, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var m ImageMap
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}

// Lookup is the first entry whose glob matches the image.
func (m ImageMap) Lookup(image string) ([]string, bool) {
	for _, e := range m {
		if ok, _ := path.Match(e.Glob, image); ok {
			return e.Program, true
		}
	}
	return nil, false
}

// Argv follows Kubernetes' command/args rules with the map as the image's ENTRYPOINT:
// command replaces the entrypoint; args are appended to whichever is used.
func (m ImageMap) Argv(c *corev1.Container) ([]string, error) {
	if len(c.Command) > 0 {
		return append(append([]string{}, c.Command...), c.Args...), nil
	}
	entry, ok := m.Lookup(c.Image)
	if !ok || len(entry) == 0 {
		return nil, fmt.Errorf("image %q is not in the lab's image map and container %q has no command", c.Image, c.Name)
	}
	return append(append([]string{}, entry...), c.Args...), nil
}
