/**
 * gRPC-Java-Polaris's routing guide: "when rules conflict, the caller's Outbound rule has
 * priority over the callee's Inbound rule". dock's inbound rule sends calls to the east crane;
 * harbor's outbound rule sends harbor's calls to dock to the west crane.
 */
export const PRECEDENCE_RULES = `
rules:
  - name: dock-inbound
    service: dock
    destinations: [{ name: east, labels: { crane: east } }]
  - name: harbor-outbound
    service: harbor
    direction: outbound
    sources: [{ service: dock }]
    destinations: [{ name: west, labels: { crane: west } }]
`;
