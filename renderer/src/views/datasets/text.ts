/** Uploads (browser imports) come from the workspace's tmp/uploads/<batch>/: show only their own names. */
export const shortSource = (s: string): string => s.replace(/\S*[\\/]tmp[\\/]uploads[\\/][A-Za-z0-9_-]+[\\/]/g, '');
