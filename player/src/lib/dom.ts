// The plain (non-Preact) pages' elements, found by id and checked once.

/** The element `#id` of `page`, which must be a `type`; throws otherwise. */
export function byId<T extends HTMLElement>(page: string, id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`${page} has no <${type.name}> #${id}`);
  return el;
}
