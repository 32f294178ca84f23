// Writes the small dataset fixtures used by end-to-end tests: test/fixtures/data/sample.jsonl (a `domain` field,
// three domains, a `toxicity` score on some records) and test/fixtures/data/sample.parquet (the same records:
// text, domain, toxicity columns). Deterministic; run `node test/data/make-fixtures.mjs` to regenerate.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parquetWriteFile } from 'hyparquet-writer';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/data');
mkdirSync(dir, { recursive: true });

const code = [
  'def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)',
  'for (let i = 0; i < items.length; i++) { total += items[i].price; }',
  'fn main() { let v: Vec<u32> = (1..10).collect(); println!("{:?}", v); }',
  'SELECT name, count(*) FROM users GROUP BY name HAVING count(*) > 1;',
  'import numpy as np\narr = np.zeros((3, 3))\nprint(arr.shape)',
  'public static void main(String[] args) { System.out.println("hello"); }',
  'const add = (a, b) => a + b; export default add;',
  'while read line; do echo "$line" | tr a-z A-Z; done < input.txt',
];
const cooking = [
  'Whisk the eggs with sugar until pale, then fold in the sifted flour.',
  'Simmer the tomato sauce for twenty minutes with basil and garlic.',
  'Season the steak generously with salt and rest it before slicing.',
  'Knead the dough for ten minutes until it is smooth and elastic.',
  'Roast the vegetables at 200 degrees until the edges caramelise.',
  'Deglaze the pan with white wine and scrape up the browned bits.',
  'Soak the beans overnight, then cook them slowly with a bay leaf.',
  'Crème brûlée needs a water bath and a very hot grill for the crust.',
];
const law = [
  'The court held that the contract was void for lack of consideration.',
  'A tenant must give thirty days written notice before vacating the premises.',
  'The appellant argues that the trial judge misdirected the jury.',
  'Liability for negligence requires a duty of care, a breach and damage.',
  'The statute of limitations for this claim expired six years after the breach.',
  'The defendant was acquitted because the evidence was obtained unlawfully.',
  'An easement grants a right of way over land owned by another person.',
  'The parties agreed to settle the dispute by binding arbitration.',
];

const records = [];
for (let i = 0; i < 8; i++) {
  records.push({ text: code[i], domain: 'code', toxicity: Math.round(((i * 37) % 10) * 0.01 * 1000) / 1000 });
  records.push({ text: cooking[i], domain: 'cooking', toxicity: Math.round(((i * 53) % 10) * 0.01 * 1000) / 1000 });
  records.push({ text: law[i], domain: 'law', toxicity: Math.round(((i * 71) % 10) * 0.02 * 1000) / 1000 });
}

writeFileSync(path.join(dir, 'sample.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
parquetWriteFile({
  filename: path.join(dir, 'sample.parquet'),
  columnData: [
    { name: 'text', data: records.map((r) => r.text), type: 'STRING' },
    { name: 'domain', data: records.map((r) => r.domain), type: 'STRING' },
    { name: 'toxicity', data: records.map((r) => r.toxicity), type: 'DOUBLE' },
  ],
  rowGroupSize: 10,
});
console.log(`wrote ${records.length} records to ${dir}/sample.jsonl and sample.parquet`);
