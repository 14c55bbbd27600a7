function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A regex source that matches any of `texts` (taken literally) between `before` and `after`. */
export function anyOf(texts: readonly string[], before: string, after: string): string {
  return `${before}(?:${texts.map(escapeRegex).join('|')})${after}`;
}
