import { createRequire } from 'node:module';

/**
 * What an agent wrote in Slack, as plain text for a reporter who reads it by mail or Telegram: Slack's markup
 * (mentions as user ids, `:emoji:` names, `*bold*`, `<url|label>`, `&amp;`) made readable. The message's
 * rich_text blocks say exactly what was written (mentions by id, emoji with their code points); its `text`
 * is the fallback for messages without them.
 */

/** Display names of the people a message mentions, by Slack user id. */
export type PeopleNames = ReadonlyMap<string, string>;

interface RichElement {
  type?: string; text?: string; url?: string; user_id?: string; usergroup_id?: string; channel_id?: string; name?: string;
  unicode?: string; range?: string; fallback?: string; value?: string; style?: unknown; indent?: number; offset?: number;
  elements?: RichElement[];
}

/** The user ids a message mentions (in its blocks, else in its text), so that their names can be looked up. */
export function mentionedUsers(text: string, blocks: unknown): string[] {
  const ids = new Set<string>();
  const walk = (els: RichElement[] | undefined) => {
    for (const el of els ?? []) {
      if (el.type === 'user' && el.user_id) ids.add(el.user_id);
      walk(el.elements);
    }
  };
  if (Array.isArray(blocks)) walk(blocks as RichElement[]);
  for (const m of text.matchAll(/<@([UW][A-Z0-9]+)(?:\|[^>]*)?>/g)) ids.add(m[1]!);
  return [...ids];
}

/** The message as plain text: from its rich_text blocks when it has them, else from its mrkdwn text. */
export function slackMessageToPlain(text: string, blocks: unknown, names: PeopleNames = new Map()): string {
  return richTextToPlain(blocks, names) ?? slackToPlain(text, names);
}

/** rich_text blocks as plain text, or null when there are none. */
export function richTextToPlain(blocks: unknown, names: PeopleNames = new Map()): string | null {
  if (!Array.isArray(blocks)) return null;
  const rich = (blocks as RichElement[]).filter((b) => b?.type === 'rich_text');
  if (rich.length === 0) return null;
  const parts = rich.flatMap((b) => (b.elements ?? []).map((el) => container(el, names)));
  return parts.join('\n').replace(/\n{3,}/g, '\n\n').trim();
}

function container(el: RichElement, names: PeopleNames): string {
  const body = inline(el.elements, names).replace(/\n$/, '');
  switch (el.type) {
    case 'rich_text_quote': return body.split('\n').map((line) => `> ${line}`).join('\n');
    case 'rich_text_list': return (el.elements ?? []).map((item, i) => {
      const bullet = el.style === 'ordered' ? `${(el.offset ?? 0) + i + 1}.` : '•';
      return `${'  '.repeat(el.indent ?? 0)}${bullet} ${inline(item.elements, names).trim()}`;
    }).join('\n');
    default: return body;
  }
}

function inline(elements: RichElement[] | undefined, names: PeopleNames): string {
  return (elements ?? []).map((el) => {
    switch (el.type) {
      case 'text': return el.text ?? '';
      case 'link': return linkText(el.url ?? '', el.text);
      case 'user': return `@${names.get(el.user_id ?? '') ?? el.user_id ?? ''}`;
      case 'usergroup': return `@${el.usergroup_id ?? ''}`;
      case 'channel': return `#${el.channel_id ?? ''}`;
      case 'broadcast': return `@${el.range ?? 'here'}`;
      case 'emoji': return (el.unicode ? fromHex(el.unicode) : null) ?? emoji(el.name ?? '') ?? `:${el.name}:`;
      case 'date': return el.fallback ?? '';
      case 'color': return el.value ?? '';
      default: return el.elements ? inline(el.elements, names) : (el.text ?? '');
    }
  }).join('');
}

/** Slack's mrkdwn text as plain text. */
export function slackToPlain(text: string, names: PeopleNames = new Map()): string {
  return text
    .replace(/<((?:https?|mailto):[^|>]+)\|([^>]+)>/g, (_m, url: string, label: string) => linkText(url, label))
    .replace(/<((?:https?|mailto):[^>]+)>/g, (_m, url: string) => linkText(url))
    .replace(/<#[A-Z0-9]+\|([^>]*)>/g, '#$1')
    .replace(/<#([A-Z0-9]+)>/g, '#$1')
    .replace(/<@([UW][A-Z0-9]+)\|([^>]*)>/g, (_m, id: string, label: string) => `@${names.get(id) ?? label}`)
    .replace(/<@([UW][A-Z0-9]+)>/g, (_m, id: string) => `@${names.get(id) ?? id}`)
    .replace(/<!(here|channel|everyone)(?:\|[^>]*)?>/g, '@$1')
    .replace(/<!subteam\^[A-Z0-9]+\|([^>]*)>/g, '$1')
    .replace(/<!date\^[^|>]*\|([^>]*)>/g, '$1')
    .replace(/:([a-z0-9_+'-]+):(?::(skin-tone-[2-6]):)?/g, (whole, name: string, tone?: string) => {
      const e = emoji(name);
      return e ? e + (tone ? (emoji(tone) ?? '') : '') : whole;
    })
    .replace(/```\n?([\s\S]*?)\n?```/g, '$1')
    .replace(/(^|[\s(])`([^`\n]+)`(?=[\s).,!?:;]|$)/g, '$1$2')
    .replace(/(^|[\s(])([*_~])(\S(?:[^\n]*?\S)?)\2(?=[\s).,!?:;]|$)/gm, '$1$3')
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function linkText(url: string, label?: string): string {
  const plain = url.replace(/^mailto:/, '');
  return !label || label === plain || label === url ? plain : `${label} (${plain})`;
}

function fromHex(hex: string): string | null {
  const points = hex.split('-').map((h) => Number.parseInt(h, 16));
  return points.every((p) => Number.isInteger(p) && p > 0 && p <= 0x10ffff) ? String.fromCodePoint(...points) : null;
}

// Slack's emoji names are iamcal's (emoji-data); emojibase keeps that table. Read once, when first needed.
let byName: Map<string, string> | null = null;
function emoji(name: string): string | undefined {
  if (!byName) {
    const table = createRequire(import.meta.url)('emojibase-data/en/shortcodes/iamcal.json') as Record<string, string | string[]>;
    byName = new Map();
    for (const [hex, shortcodes] of Object.entries(table)) {
      const char = fromHex(hex);
      if (char) for (const code of [shortcodes].flat()) byName.set(code, char);
    }
  }
  return byName.get(name);
}
