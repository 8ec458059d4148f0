// Checks the Chorus for Salesforce package source offline with Salesforce's own
// source-deploy-retrieve (the library the sf CLI deploys with): every file under
// force-app must resolve to a known metadata component, the source must convert to
// metadata (Metadata API) format, and the components and package.xml must be the
// expected ones. Exits non-zero on any problem. Usage: node convert.mjs
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ComponentSet, MetadataConverter } from '@salesforce/source-deploy-retrieve';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const source = join(root, 'force-app');
const build = join(root, 'build', 'metadata');

// Type name -> how many components of it the package defines.
const EXPECTED = {
  CustomObject: 2, // Chorus_Engagement__c, Chorus_Moment__c (Opportunity, Account, Activity: only added fields)
  CustomField: 19,
  CustomTab: 1,
  PermissionSet: 1,
  ApexClass: 2,
  ReportType: 3,
  ReportFolder: 1,
  Report: 4,
  ConnectedApp: 2,
  AuraDefinitionBundle: 1,
  Layout: 4,
};

const problems = [];
const fail = (message) => problems.push(message);

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

let components;
try {
  components = ComponentSet.fromSource({ fsPaths: [source] });
} catch (error) {
  console.error(`force-app does not resolve: ${error.name}: ${error.message}`);
  process.exit(1);
}

// Every file must belong to a component SDR recognised (nothing unknown, nothing skipped).
const claimed = new Set();
const sourceComponents = components.getSourceComponents().toArray();
const all = [];
for (const component of sourceComponents) {
  for (const c of [component, ...component.getChildren()]) {
    all.push(c);
    if (c.xml) claimed.add(resolve(c.xml));
    if (c.content) {
      for (const path of c.walkContent()) claimed.add(resolve(path));
    }
  }
}
for (const file of walk(source)) {
  if (!claimed.has(resolve(file))) fail(`not part of any metadata component: ${relative(root, file)}`);
}

const counts = {};
for (const c of all) counts[c.type.name] = (counts[c.type.name] ?? 0) + 1;
for (const [type, n] of Object.entries(EXPECTED)) {
  if ((counts[type] ?? 0) !== n) fail(`expected ${n} ${type}, found ${counts[type] ?? 0}`);
}
for (const type of Object.keys(counts)) {
  if (!(type in EXPECTED)) fail(`unexpected metadata type ${type} (${counts[type]}): add it to EXPECTED`);
}

// Convert to metadata format, as a deploy would.
rmSync(join(root, 'build'), { recursive: true, force: true });
try {
  await new MetadataConverter().convert(components, 'metadata', {
    type: 'directory',
    outputDirectory: build,
    genUniqueDir: false,
  });
} catch (error) {
  fail(`conversion to metadata format failed: ${error.name}: ${error.message}`);
}

const packageXmlPath = join(build, 'package.xml');
if (!existsSync(packageXmlPath)) {
  fail('the conversion wrote no package.xml');
} else {
  const packageXml = readFileSync(packageXmlPath, 'utf8');
  // package.xml lists a report folder among the Reports (its member is the folder name).
  const listed = (type) => (type === 'ReportFolder' ? 'Report' : type);
  const members = {};
  for (const [, body] of packageXml.matchAll(/<types>([\s\S]*?)<\/types>/g)) {
    const name = /<name>(.*?)<\/name>/.exec(body)?.[1];
    members[name] = new Set([...body.matchAll(/<members>(.*?)<\/members>/g)].map((m) => m[1].replace(/\/$/, '')));
  }
  for (const type of Object.keys(EXPECTED)) {
    if (!members[listed(type)]) fail(`package.xml does not list ${type}`);
  }
  for (const c of all) {
    if (!members[listed(c.type.name)]?.has(c.fullName)) fail(`package.xml does not list ${c.type.name} ${c.fullName}`);
  }
  for (const expected of ['objects/Chorus_Engagement__c.object', 'objects/Chorus_Moment__c.object',
    'objects/Opportunity.object', 'permissionsets/Chorus_Admin.permissionset', 'classes/ChorusSyncService.cls',
    'reportTypes/Opportunity_With_Moment.reportType', 'reports/ChorusReports-meta.xml',
    'reports/ChorusReports/Moments_by_Tracker.report', 'connectedApps/AffectLayer_Notes.connectedApp',
    'aura/Chorus/Chorus.cmp', 'layouts/Contact-Chorus Contact Layout.layout']) {
    if (!existsSync(join(build, expected))) fail(`the conversion did not write ${expected}`);
  }
}

if (problems.length) {
  console.error(`salesforce-package: ${problems.length} problem(s):`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
const summary = Object.entries(counts).sort().map(([t, n]) => `${t} ${n}`).join(', ');
console.log(`salesforce-package: ${all.length} components resolve and convert (${summary}); package.xml in ${relative(root, build)}`);
