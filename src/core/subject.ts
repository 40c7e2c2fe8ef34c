import { cutText } from './text.ts';

/** The subject of a new ticket: the one given, or the first line of the text, shortened at a word. */
export function subjectFrom(subject: string | undefined, text: string, max = 120): string {
  const given = subject?.replace(/\s+/g, ' ').trim();
  if (given) return cutText(given, 300);
  const firstLine = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  if (firstLine.length === 0) return '(no subject)';
  if (firstLine.length <= max) return firstLine;
  const cut = cutText(firstLine, max);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
