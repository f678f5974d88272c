/**
 * XML <-> JSON for TransformationPolicy (fast-xml-parser), with one documented mapping both ways:
 *  - an element is a property named after it; its children and attributes an object;
 *  - an attribute is a property `@name`; an element's text beside attributes or children `#text`;
 *  - an element with only text is a string (values are never guessed into numbers or booleans:
 *    "007" stays "007"); an empty element is "";
 *  - repeated sibling elements are an array; JSON -> XML writes an array as repeated elements;
 *  - the root element is the one top-level property (XML -> JSON keeps it: <pet/> -> {"pet": ""});
 *    JSON -> XML wraps the body in the configured root element.
 * The XML declaration, comments and processing instructions are dropped; DOCTYPE entity
 * expansion is bounded (fast-xml-parser's limits), nesting to 100 levels. Malformed input throws
 * XmlJsonError, which the filter answers (400 for a request, 502 for a response).
 */
import type { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';

export class XmlJsonError extends Error {}

const OPTIONS = {
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '#text',
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  commentPropName: false as const,
} as const;

/** fast-xml-parser, loaded by the first policy that converts XML (loadXml): most proxies never do. */
let lib: { parser: XMLParser; builder: XMLBuilder; validator: typeof XMLValidator } | undefined;
let loading: Promise<void> | undefined;

/** Loads the XML library; xmlToJson and jsonToXml may be called once this resolved. */
export function loadXml(): Promise<void> {
  return (loading ??= import('fast-xml-parser').then((m) => {
    lib = {
      parser: new m.XMLParser(OPTIONS),
      builder: new m.XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@', textNodeName: '#text', format: false, suppressBooleanAttributes: false, suppressEmptyNode: false }),
      validator: m.XMLValidator,
    };
  }));
}

/** True once loadXml() has finished. */
export function xmlLoaded(): boolean {
  return lib !== undefined;
}

function loaded(): NonNullable<typeof lib> {
  if (!lib) throw new Error('the XML library is not loaded yet (await loadXml() first)');
  return lib;
}
const XML_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** XML text -> a JSON value (the mapping above). */
export function xmlToJson(xml: string): unknown {
  const { validator, parser } = loaded();
  const ok = validator.validate(xml);
  if (ok !== true) throw new XmlJsonError(`not well-formed XML: ${ok.err.msg} (line ${ok.err.line})`);
  try {
    return parser.parse(xml) as unknown;
  } catch (e) {
    throw new XmlJsonError(`XML could not be read: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function checkNames(v: unknown, depth: number): void {
  if (depth > 100) throw new XmlJsonError('the JSON body is nested deeper than 100 levels');
  if (Array.isArray(v)) {
    for (const x of v) {
      if (Array.isArray(x)) throw new XmlJsonError('an array of arrays has no XML form (an array is repeated elements)');
      checkNames(x, depth + 1);
    }
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  for (const [k, x] of Object.entries(v)) {
    const name = k.startsWith('@') ? k.slice(1) : k;
    if (k !== '#text' && !XML_NAME.test(name)) throw new XmlJsonError(`the JSON property '${k}' is not an XML name`);
    if (k.startsWith('@') && typeof x === 'object' && x !== null) throw new XmlJsonError(`the attribute '${k}' must be a string, number or boolean`);
    checkNames(x, depth + 1);
  }
}

/** A JSON object -> XML text under `<root>` (the mapping above). */
export function jsonToXml(value: unknown, root: string): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new XmlJsonError('only a JSON object converts to XML (its properties become the root element\'s children)');
  checkNames(value, 0);
  return `<?xml version="1.0" encoding="UTF-8"?>${loaded().builder.build({ [root]: value }) as string}`;
}

/** Whether a content type is XML (application/xml, text/xml, or a `+xml` suffix). */
export function isXmlType(ct: string | undefined): boolean {
  if (!ct) return false;
  const semi = ct.indexOf(';');
  const t = (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
  return t === 'application/xml' || t === 'text/xml' || t.endsWith('+xml');
}

/** Whether `s` is an XML element name the converter writes. */
export function isXmlName(s: string): boolean {
  return XML_NAME.test(s);
}
