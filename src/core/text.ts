/**
 * Cutting and cleaning people's text. JavaScript strings are UTF-16: a plain `slice` can cut an emoji (a
 * surrogate pair) in half, and a lone half turns into `\ud83d` in JSON, which Postgres refuses outright.
 */

/** At most `max` UTF-16 units of `text`, never ending in half a character. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The text with any half character (from a cut made elsewhere, or sent so) replaced by U+FFFD. */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

/** A template with its `{name}` placeholders filled; a placeholder without a value stays visible. */
export function fillPlaceholders(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (vars[name] !== undefined ? String(vars[name]) : whole));
}
