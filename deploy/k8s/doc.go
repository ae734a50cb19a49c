// Package k8s holds no code: its test builds the Kubernetes manifests in this folder with
// kustomize, decodes every object strictly into the typed Kubernetes API, and checks the
// invariants the services rely on (probe ports, graceful termination, replicas vs partitions).
package k8s
