/**
 * JSON for session values of any depth. V8's `JSON.parse` is iterative and accepts input nested far
 * deeper than the call stack, but `JSON.stringify`, a `JSON.parse` reviver and any recursive walk
 * throw `RangeError` (stack overflow) a few thousand levels down. A handler may put client-supplied
 * JSON into the session (`ctx.session.prefs = body.prefs`), so everything here works with an explicit
 * stack instead of recursion.
 *
 * The request path stays fast: `stringifyJson` tries the native `JSON.stringify` first and only a
 * value too deep for it pays for the iterative version; `parseJson` walks the parsed value only when
 * the text could hold a dangerous key. Pure functions, no imports: usable by the stores and the core.
 *
 * @example
 * const text = stringifyJson({ deep: value }); // same text as JSON.stringify, at any depth
 * const copy = parseJson(text);                 // no __proto__ / constructor / prototype keys
 * sameJson(copy, JSON.parse(text));             // true
 */

/** A dangerous key, or any unicode escape (which could spell one without matching the plain text). */
const MAY_HOLD_DANGEROUS_KEY = /"(?:__proto__|constructor|prototype)"\s*:|\\u/;

/** Keys that turn dangerous when a parsed object is copied by assignment (`for…in` + `obj[k] = v`). */
export function isDangerousKey(key: string): boolean {
  return key === "__proto__" || key === "constructor" || key === "prototype";
}

/**
 * Parse JSON text into a plain value with no dangerous keys at any depth. Throws SyntaxError on bad
 * JSON. A reviver would do the filtering in one pass, but V8 runs revivers recursively, so a deep
 * value would overflow the stack; the parsed value is walked with an explicit stack instead.
 */
export function parseJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  if (MAY_HOLD_DANGEROUS_KEY.test(text)) dropDangerousKeys(value);
  return value;
}

/** Remove dangerous own keys at every depth, in place. For values fresh from JSON.parse (no cycles). */
export function dropDangerousKeys(value: unknown): void {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const current = pending.pop();
    if (typeof current !== "object" || current === null) continue;
    if (Array.isArray(current)) {
      for (const item of current) if (typeof item === "object" && item !== null) pending.push(item);
      continue;
    }
    const record = current as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (isDangerousKey(key)) delete record[key];
      else if (typeof record[key] === "object" && record[key] !== null) pending.push(record[key]);
    }
  }
}

/**
 * `JSON.stringify(value)`, at any depth: the native function first (fast, and what nearly every
 * session takes), the iterative one only when the native one runs out of stack. Errors other than
 * running out of stack (a cycle, a BigInt) are the native ones, unchanged.
 */
export function stringifyJson(value: object): string;
export function stringifyJson(value: unknown): string | undefined;
export function stringifyJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value) as string | undefined;
  } catch (error) {
    // A RangeError here is a stack overflow (or a result too long for a string, which the
    // iterative version then reports the same way).
    if (!(error instanceof RangeError)) throw error;
  }
  return stringifyIterative(value);
}

/** One object or array being written: its keys (undefined for an array) and how far we got. */
interface Frame {
  value: Record<string, unknown> | unknown[];
  keys: string[] | undefined;
  index: number;
  /** Whether a member was written yet (an object skips undefined/function members). */
  wrote: boolean;
}

/**
 * JSON.stringify's algorithm (ECMA-262 SerializeJSONProperty, without replacer or indentation) with an
 * explicit stack: `toJSON` is honoured, boxed primitives are unwrapped, undefined/functions/symbols
 * are skipped in objects and written as null in arrays, and a cycle throws TypeError.
 */
export function stringifyIterative(root: unknown): string | undefined {
  const top = toJsonValue("", root);
  if (!isContainer(top)) return primitiveJson(top);
  const parts: string[] = [];
  const stack: Frame[] = [];
  const onPath = new Set<object>();
  const open = (value: object): void => {
    if (onPath.has(value)) throw new TypeError("koa-sessionkit: cannot serialize a session value that contains a cycle");
    onPath.add(value);
    const isArray = Array.isArray(value);
    parts.push(isArray ? "[" : "{");
    stack.push({ value: value as Frame["value"], keys: isArray ? undefined : Object.keys(value), index: 0, wrote: false });
  };
  open(top);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as Frame;
    const { value, keys } = frame;
    if (keys === undefined) {
      const array = value as unknown[];
      if (frame.index >= array.length) {
        parts.push("]");
        close(stack, onPath);
        continue;
      }
      const index = frame.index++;
      if (index > 0) parts.push(",");
      const item = toJsonValue(String(index), array[index]);
      if (isContainer(item)) open(item);
      else parts.push(primitiveJson(item) ?? "null");
      continue;
    }
    if (frame.index >= keys.length) {
      parts.push("}");
      close(stack, onPath);
      continue;
    }
    const key = keys[frame.index++] as string;
    const record = value as Record<string, unknown>;
    const member = toJsonValue(key, record[key]);
    const text = isContainer(member) ? undefined : primitiveJson(member);
    if (!isContainer(member) && text === undefined) continue; // skipped, as JSON.stringify does
    parts.push(`${frame.wrote ? "," : ""}${JSON.stringify(key)}:`);
    frame.wrote = true;
    if (isContainer(member)) open(member);
    else parts.push(text as string);
  }
  return parts.join("");
}

function close(stack: Frame[], onPath: Set<object>): void {
  onPath.delete((stack.pop() as Frame).value);
}

/** What JSON.stringify serializes for a member named `key`: the result of its toJSON method, if any. */
function toJsonValue(key: string, value: unknown): unknown {
  if ((typeof value === "object" && value !== null) || typeof value === "bigint") {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return toJSON.call(value, key) as unknown;
  }
  return value;
}

/** An object or array to walk; boxed primitives (new Number(1)) are leaves, as in JSON.stringify. */
function isContainer(value: unknown): value is object {
  return typeof value === "object" && value !== null && !(value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt);
}

/** A leaf's JSON (native, so escaping and number formatting match); undefined for what JSON skips. */
function primitiveJson(value: unknown): string | undefined {
  return JSON.stringify(value) as string | undefined;
}

/**
 * Deep equality of two JSON values, independent of key order, at any depth. For values that came
 * from JSON (no cycles, no undefined); arrays equal only arrays.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  const pending: unknown[] = [a, b];
  while (pending.length > 0) {
    const right = pending.pop();
    const left = pending.pop();
    if (left === right) continue;
    if (typeof left !== "object" || typeof right !== "object" || left === null || right === null) return false;
    if (Array.isArray(left) !== Array.isArray(right)) return false;
    const leftRecord = left as Record<string, unknown>;
    const rightRecord = right as Record<string, unknown>;
    const keys = Object.keys(leftRecord);
    if (keys.length !== Object.keys(rightRecord).length) return false;
    for (const key of keys) {
      if (!Object.prototype.hasOwnProperty.call(rightRecord, key)) return false;
      pending.push(leftRecord[key], rightRecord[key]);
    }
  }
  return true;
}
