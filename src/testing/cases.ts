/**
 * Shared by the conformance suites: choosing the cases to run.
 *
 * @module
 */

/**
 * The cases of `suite` without those named in `skip`. A name in `skip` that matches no case throws, so a renamed
 * case is never skipped silently.
 */
export function pickCases<T extends { name: string }>(suite: string, cases: readonly T[], skip: readonly string[] = []): T[] {
  const names = new Set(cases.map((item) => item.name));
  for (const name of skip) {
    if (!names.has(name)) throw new Error(`${suite}: no case is named ${JSON.stringify(name)}; the cases are ${JSON.stringify([...names])}.`);
  }
  const skipped = new Set(skip);
  return cases.filter((item) => !skipped.has(item.name));
}
