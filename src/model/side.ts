/** Which ext_proc call this is, as the sidecar's bootstrap declares it (`x-metaroute-side`). */
export type Side = 'edge' | 'inbound' | 'outbound';
