package node

// nodeConfigMaps lets the node read ConfigMaps without waiting for the Node
// authorizer's graph. The kubelet lists each ConfigMap a new pod mounts
// (every pod's token volume has its namespace's kube-root-ca.crt) as soon
// as it sees the pod bound; the authorizer admits that list only once its
// own watch has put the pod in its graph. When the kubelet's watch is the
// faster one, the list is refused ("no relationship found between node")
// and client-go's reflector retries 0.8-1.6 s later: 2 of 7 creates here,
// holding CoreDNS's sandbox back that long. On one node every pod's
// ConfigMaps are the node's to read anyway; Secrets stay behind the graph.
// The etcd seed holds these objects, so every new cluster has them from
// its first request.
const nodeConfigMaps = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: skiff:node-configmaps
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: skiff:node-configmaps
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: skiff:node-configmaps
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: Group
    name: system:nodes
`
