// Package servicelb gives Services of type LoadBalancer their addresses:
// the loadbalancer addon, run by the node agent while the addon is
// enabled, as k3s runs its servicelb in-process instead of a pod.
//
// Kubernetes' own service controller (k8s.io/cloud-provider's, which every
// cloud's controller manager runs) watches the Services, keeps their
// load-balancer-cleanup finalizer and writes their status; this package is
// the "cloud" behind it:
//
//   - an address from the cluster's pool (a /24 of the skiff Docker network
//     that Docker never gives a container; pool.go), the one the Service
//     asks for in spec.loadBalancerIP, else the one its status already has
//     (a restart keeps every Service's address), else the lowest free one;
//   - the node answers ARP requests for the addresses it assigned on the
//     interface that reaches the pool (arp.go), as MetalLB's layer-2 mode
//     does, so the host and other containers on the network send the
//     Service's traffic to the node, where kube-proxy's rules for the
//     status address forward it to the Service's endpoints.
//
// Services with a spec.loadBalancerClass are left to the controller of
// that class. Disabling the addon (Release) removes the finalizers and the
// addresses from status, so no Service is left undeletable.
package servicelb
