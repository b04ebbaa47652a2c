/**
 * The CLI's GraphQL queries against api/schema.graphql, and their declared response types against
 * their selections. Every query the CLI sends is declared as `gql<T>(text)` (cli/graphql.ts);
 * this test finds each call in cli/ with the TypeScript compiler, then
 *   - validates the text against the schema with graphql's `validate()` (a renamed or removed
 *     schema field, a wrong argument or variable type fails here), and
 *   - walks the selection and `T` together: every selected field (by its response key) is a
 *     property of `T` at that level and every property of `T` is selected, down every nesting.
 * A query built with `${…}` from string constants is resolved through those constants.
 */
import { expect } from "chai";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { Kind, buildSchema, parse, validate, type SelectionSetNode } from "graphql";
import ts from "typescript";
import { PROJECT_ROOT } from "../../common/paths";

interface FoundQuery {
  where: string;
  text: string;
  type: ts.Type;
}

function cliFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? cliFiles(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : [],
  );
}

function program(): ts.Program {
  const file = path.join(PROJECT_ROOT, "tsconfig.json");
  const cfg = ts.parseJsonConfigFileContent(ts.readConfigFile(file, ts.sys.readFile).config, ts.sys, PROJECT_ROOT);
  return ts.createProgram(cliFiles(path.join(PROJECT_ROOT, "cli")), { ...cfg.options, noEmit: true });
}

/** The value of a string literal or template, with `${name}` of string constants filled in. */
function literalText(node: ts.Expression, checker: ts.TypeChecker, where: string): string {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) {
    return (
      node.head.text +
      node.templateSpans
        .map((span) => {
          const decl = checker.getSymbolAtLocation(span.expression)?.valueDeclaration;
          if (!decl || !ts.isVariableDeclaration(decl) || !decl.initializer)
            throw new Error(`${where}: \${${span.expression.getText()}} is not a string constant`);
          return literalText(decl.initializer, checker, where) + span.literal.text;
        })
        .join("")
    );
  }
  throw new Error(`${where}: the query text is not a literal`);
}

function findQueries(p: ts.Program): FoundQuery[] {
  const checker = p.getTypeChecker();
  const out: FoundQuery[] = [];
  for (const sf of p.getSourceFiles()) {
    if (!sf.fileName.startsWith(path.join(PROJECT_ROOT, "cli") + path.sep)) continue;
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "gql") {
        const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
        const where = `${path.relative(PROJECT_ROOT, sf.fileName)}:${line + 1}`;
        const [typeArg] = node.typeArguments ?? [];
        const [arg] = node.arguments;
        if (!typeArg || !arg) throw new Error(`${where}: gql needs a type argument and a query text`);
        out.push({ where, text: literalText(arg, checker, where), type: checker.getTypeFromTypeNode(typeArg) });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return out;
}

/** Differences between a selection and a type, each named by its path. */
function shapeProblems(checker: ts.TypeChecker, set: SelectionSetNode, type: ts.Type, at: string): string[] {
  let t = checker.getNonNullableType(type);
  const element = checker.getIndexTypeOfType(t, ts.IndexKind.Number);
  if (element && checker.isArrayType(t)) t = checker.getNonNullableType(element);
  const props = new Map(checker.getPropertiesOfType(t).map((p) => [p.name, p]));
  const problems: string[] = [];
  const selected = new Set<string>();
  for (const sel of set.selections) {
    if (sel.kind !== Kind.FIELD) {
      problems.push(`${at}: fragments are not checked here; select fields`);
      continue;
    }
    const key = sel.alias?.value ?? sel.name.value;
    selected.add(key);
    const prop = props.get(key);
    if (!prop) {
      problems.push(`${at}.${key} is selected but not in the declared type`);
      continue;
    }
    if (sel.selectionSet)
      problems.push(...shapeProblems(checker, sel.selectionSet, checker.getTypeOfSymbol(prop), `${at}.${key}`));
  }
  for (const name of props.keys()) if (!selected.has(name)) problems.push(`${at}.${name} is declared but not selected`);
  return problems;
}

describe("the CLI's GraphQL queries", function () {
  this.timeout(60_000);
  const schema = buildSchema(readFileSync(path.join(PROJECT_ROOT, "api/schema.graphql"), "utf8"));
  let checker: ts.TypeChecker;
  let queries: FoundQuery[];
  before(function () {
    const p = program();
    checker = p.getTypeChecker();
    queries = findQueries(p);
  });

  it("are found: verify, challenge, history and the audit's", function () {
    const names = queries.map((q) => {
      const op = parse(q.text).definitions[0];
      return op?.kind === Kind.OPERATION_DEFINITION ? op.name?.value : undefined;
    });
    expect(names).to.include.members([
      "Verify",
      "Challenge",
      "History",
      "AuditStatus",
      "AuditDevices",
      "AuditVerdicts",
    ]);
  });

  it("are each a valid operation against api/schema.graphql", function () {
    const problems = queries.flatMap((q) => validate(schema, parse(q.text)).map((e) => `${q.where}: ${e.message}`));
    expect(problems).to.deep.equal([]);
  });

  it("declare response types whose keys are exactly the selected fields, at every level", function () {
    const problems = queries.flatMap((q) => {
      const op = parse(q.text).definitions[0]!;
      if (op.kind !== Kind.OPERATION_DEFINITION) return [`${q.where}: not an operation`];
      return shapeProblems(checker, op.selectionSet, q.type, q.where);
    });
    expect(problems).to.deep.equal([]);
  });
});
