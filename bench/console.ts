/** `npm run bench -- console`: the console figures of issue 14 (bundle size, first paint, device page, live update), measured by test/console/figures.ts in headless Chromium against a real dev stack. */
export { run } from "../test/console/figures";
