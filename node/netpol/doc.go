// Package netpol enforces networking.k8s.io/v1 NetworkPolicy on the node:
// the netpol addon, run by the node agent while the addon is enabled.
//
// The policy engine is kube-network-policies' (sigs.k8s.io/kube-network-
// policies, its exported packages only): informers on pods, namespaces and
// policies, and a verdict for one packet. Its own dataplane is not used: it
// sends packets to userspace with nftables' queue expression, which the
// kernels skiff runs on may lack (CONFIG_NFT_QUEUE), and then silently
// enforces nothing. The dataplane here is skiff's: one nftables table,
//
//	table ip skiff-netpol  (rules.go; `nft list table ip skiff-netpol` on the node)
//	  chains on the forward and input hooks, priority -10 (before iptables'
//	  filter table, so kube-proxy's ACCEPTs cannot skip it)
//	  set managed: local pods some policy selects
//	  set known:   every local pod the API server has an address for
//
// whose rules send the first packet of each connection (conntrack state
// new) from or to a managed pod, or from or to an address in the node's
// pod CIDR that is not known yet (a pod that started before the API server
// published its address), to netfilter queue 100 through iptables' NFQUEUE
// target (xt_NFQUEUE, reached through nft_compat). A goroutine reads the
// queue (queue.go) and answers with the engine's verdict: accept, or deny,
// which sends the packet through the chain again with a mark that the
// chain rejects: a TCP reset, an ICMP "administratively prohibited"
// otherwise, so a client refused by a policy fails at once instead of
// waiting for a timeout. Later packets of an accepted connection are
// established and pass without a question.
//
// Forward sees pod-to-pod traffic (ptp routes every pod packet through the
// node) after kube-proxy's DNAT, so a Service's traffic is judged by the
// endpoint it reaches; input sees a pod's traffic to the node itself (the
// API server, host-network pods). Traffic the node sends (kubelet probes,
// host-network processes) is not queued: NetworkPolicy always allows a
// pod's own node.
//
// Fail open: the NFQUEUE rules carry --queue-bypass, so while no agent
// reads the queue (stopping, disabled but the table not yet removed) the
// packets pass. A full queue (1024 packets waiting) drops instead. Packets
// the engine cannot parse are accepted; connections open before a policy
// are not cut.
package netpol
