package provision

import (
	"context"
	"fmt"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// WaitingImage is an image that pods wait for and the node does not have.
type WaitingImage struct {
	Ref    string   `json:"image"`
	Pods   []string `json:"pods"`   // namespace/name
	Reason string   `json:"reason"` // the kubelet's, e.g. ImagePullBackOff
	// InDocker says the host's Docker has it: `skiff load docker-image`
	// copies it into the node.
	InDocker bool `json:"inDocker"`
}

// pullWaits are the reasons the kubelet gives a container that waits for
// its image.
var pullWaits = []string{"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull"}

// MissingImages lists the images that the cluster's pods wait for and its
// node lacks: offline, a chart's images are never pulled, and the pods
// only say ImagePullBackOff.
func (p *Provider) MissingImages(ctx context.Context, cluster string) ([]WaitingImage, error) {
	if err := p.running(ctx, cluster); err != nil {
		return nil, err
	}
	cs, err := p.clientset(ctx, cluster)
	if err != nil {
		return nil, err
	}
	return p.missingImages(ctx, cluster, cs)
}

func (p *Provider) missingImages(ctx context.Context, cluster string, cs *kubernetes.Clientset) ([]WaitingImage, error) {
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	have, err := p.nodeRefs(ctx, cluster)
	if err != nil {
		return nil, err
	}
	byRef := map[string]*WaitingImage{}
	for _, pod := range pods.Items {
		for _, c := range waitingOnImage(&pod) {
			ref, err := normalize(c.image)
			if err != nil {
				ref = c.image // InvalidImageName is the kubelet's to report
			}
			if have[ref] != "" {
				continue // pulled or loaded since the kubelet last tried
			}
			w := byRef[ref]
			if w == nil {
				w = &WaitingImage{Ref: c.image, Reason: c.reason}
				byRef[ref] = w
			}
			if name := pod.Namespace + "/" + pod.Name; !slices.Contains(w.Pods, name) {
				w.Pods = append(w.Pods, name)
			}
		}
	}
	out := []WaitingImage{}
	for _, w := range byRef {
		_, err := p.docker.ImageInspect(ctx, w.Ref)
		w.InDocker = err == nil
		out = append(out, *w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

type imageWait struct{ image, reason string }

// waitingOnImage lists a pod's containers (init ones too) that wait for
// their image, with the image as the pod spec names it.
func waitingOnImage(pod *corev1.Pod) []imageWait {
	specs := map[string]string{}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		specs[c.Name] = c.Image
	}
	var out []imageWait
	for _, st := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		if st.State.Waiting != nil && slices.Contains(pullWaits, st.State.Waiting.Reason) && specs[st.Name] != "" {
			out = append(out, imageWait{specs[st.Name], st.State.Waiting.Reason})
		}
	}
	return out
}
