package addons

import (
	"bytes"
	"errors"
	"io"

	"gopkg.in/yaml.v3"
)

// Workload is a Deployment, DaemonSet or StatefulSet an addon runs; the
// addon is healthy when all of its workloads are ready.
type Workload struct {
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Images    []string `json:"images,omitempty"`
}

// Workloads lists the workloads in a rendered addon manifest.
func Workloads(rendered []byte) ([]Workload, error) {
	var out []Workload
	dec := yaml.NewDecoder(bytes.NewReader(rendered))
	for {
		var obj struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name      string `yaml:"name"`
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Image string `yaml:"image"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		switch obj.Kind {
		case "Deployment", "DaemonSet", "StatefulSet":
			ns := obj.Metadata.Namespace
			if ns == "" {
				ns = "default"
			}
			w := Workload{Kind: obj.Kind, Namespace: ns, Name: obj.Metadata.Name}
			for _, c := range obj.Spec.Template.Spec.Containers {
				w.Images = append(w.Images, c.Image)
			}
			out = append(out, w)
		}
	}
}
