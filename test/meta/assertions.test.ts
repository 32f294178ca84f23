/**
 * The suite counts no test that asserts nothing: every `it`/`test` body in test/**\/*.test.ts and *.spec.ts calls
 * `expect` — itself, or through a function of its own file or of a test module it imports (followed to any depth).
 * Image capture for the docs lives in *.shots.ts (`npm run screenshots`), outside the count.
 * Static, so it holds for suites this machine cannot run (e2e, Electron).
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(import.meta.dirname, '../..');
const testDir = path.join(root, 'test');

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : walk(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

interface ModuleInfo {
  source: ts.SourceFile;
  /** Functions declared at the top level (declarations and `const f = (…) => …`), by name. */
  functions: Map<string, ts.Node>;
  /** Imported names → [module file, exported name], for relative imports of files under test/. */
  imports: Map<string, [string, string]>;
}

function parse(file: string, text = readFileSync(file, 'utf8')): ModuleInfo {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const functions = new Map<string, ts.Node>();
  const imports = new Map<string, [string, string]>();
  for (const s of source.statements) {
    if (ts.isFunctionDeclaration(s) && s.name && s.body) functions.set(s.name.text, s.body);
    if (ts.isVariableStatement(s)) {
      for (const d of s.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && d.initializer && (ts.isArrowFunction(d.initializer) || ts.isFunctionExpression(d.initializer))) functions.set(d.name.text, d.initializer.body);
      }
    }
    if (ts.isImportDeclaration(s) && ts.isStringLiteral(s.moduleSpecifier) && s.moduleSpecifier.text.startsWith('.')) {
      const target = path.resolve(path.dirname(file), s.moduleSpecifier.text);
      const resolved = [`${target}.ts`, path.join(target, 'index.ts')].find((f) => f.startsWith(testDir));
      const named = s.importClause?.namedBindings;
      if (resolved && named && ts.isNamedImports(named)) {
        for (const el of named.elements) imports.set(el.name.text, [resolved, (el.propertyName ?? el.name).text]);
      }
    }
  }
  return { source, functions, imports };
}

const modules = new Map<string, ModuleInfo>();
const moduleOf = (file: string): ModuleInfo | null => {
  if (!modules.has(file)) {
    try {
      modules.set(file, parse(file));
    } catch {
      return null;
    }
  }
  return modules.get(file)!;
};

/** Whether running `node` (a function body) calls expect, directly or through functions it calls. */
function asserts(file: string, node: ts.Node, seen = new Set<string>()): boolean {
  const m = moduleOf(file)!;
  let found = false;
  const visit = (n: ts.Node): void => {
    if (found) return;
    if (ts.isIdentifier(n)) {
      const name = n.text;
      if (name === 'expect') {
        found = true;
        return;
      }
      const key = `${file}#${name}`;
      if (!seen.has(key)) {
        const local = m.functions.get(name);
        const imported = m.imports.get(name);
        if (local && local !== node) {
          seen.add(key);
          if (asserts(file, local, seen)) found = true;
        } else if (imported) {
          seen.add(key);
          const target = moduleOf(imported[0]);
          const fn = target?.functions.get(imported[1]);
          if (fn && asserts(imported[0], fn, seen)) found = true;
        }
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(node);
  return found;
}

/** `it(…)`, `test(…)`, `it.each(…)(…)`, `it.skipIf(…)(…)`, `test.only(…)` and the like. */
function isTestCall(call: ts.CallExpression, source: ts.SourceFile): boolean {
  const callee = call.expression.getText(source);
  return /^(it|test)(\.(only|concurrent|fails|sequential))?$/.test(callee) || /^(it|test)\.(each|skipIf|runIf|for)\(/.test(callee);
}

function testsWithoutAssertions(file: string): string[] {
  const m = moduleOf(file)!;
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n) && isTestCall(n, m.source)) {
      const fn = n.arguments.find((a): a is ts.ArrowFunction | ts.FunctionExpression => ts.isArrowFunction(a) || ts.isFunctionExpression(a));
      if (fn && !asserts(file, fn.body)) {
        const line = m.source.getLineAndCharacterOfPosition(n.getStart()).line + 1;
        out.push(`${path.relative(root, file)}:${line} ${n.arguments[0]?.getText(m.source).slice(0, 90) ?? ''}`);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(m.source);
  return out;
}

describe('the suite', () => {
  const files = walk(testDir).filter((f) => /\.(test|spec)\.ts$/.test(f));

  it('finds the test files, and the checker tells a test that asserts from one that does not', () => {
    expect(files.length).toBeGreaterThan(50);
    const probe = path.join(testDir, 'meta', '__probe__.spec.ts');
    modules.set(probe, parse(probe, [
      "const check = (x: number) => expect(x).toBe(1);",
      "it('asserts', () => { expect(1).toBe(1); });",
      "it('asserts through a helper', () => { check(1); });",
      "it.each([1])('asserts in each', (x) => { check(x); });",
      "test('saves an image only', async ({ page }) => { await page.screenshot({ path: 'x.png' }); });",
      "it('only logs', () => { console.log('hi'); });",
    ].join('\n')));
    expect(testsWithoutAssertions(probe).map((l) => l.replace(/^.*:\d+ /, ''))).toEqual(["'saves an image only'", "'only logs'"]);
  });

  it('has no test that asserts nothing (image capture belongs in *.shots.ts)', () => {
    const empty = files.flatMap(testsWithoutAssertions);
    expect(empty).toEqual([]);
  });
});
