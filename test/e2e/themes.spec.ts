/**
 * What the theme screenshots were for, asserted: in the dark and the light theme every area shows its heading and
 * the navigation, nothing overflows the window sideways, and the key text (the area's heading, the navigation's
 * links, the body text) has at least WCAG AA contrast (4.5:1) against the background it is drawn on.
 * (The images themselves: `npm run screenshots`.)
 */
import type { Locator } from '@playwright/test';
import { expect, openApp, test } from './fixtures';

const areas = ['Start', 'Models', 'Train', 'Experts', 'Resection', 'Datasets', 'SAEs', 'Jobs', 'Settings'];

/** Contrast ratio of an element's text colour against the first opaque background behind it (WCAG 2 formula). */
async function contrast(el: Locator): Promise<{ ratio: number; fg: string; bg: string }> {
  return el.evaluate((node) => {
    const parse = (c: string): [number, number, number, number] | null => {
      const m = /^rgba?\(([\d.]+),?\s*([\d.]+),?\s*([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\)$/.exec(c)
        ?? /^color\(srgb ([\d.]+) ([\d.]+) ([\d.]+)(?: \/ ([\d.]+))?\)$/.exec(c);
      if (!m) return null;
      const scale = c.startsWith('color(') ? 255 : 1;
      const a = m[4] === undefined ? 1 : m[4].endsWith('%') ? parseFloat(m[4]) / 100 : parseFloat(m[4]);
      return [Number(m[1]) * scale, Number(m[2]) * scale, Number(m[3]) * scale, a];
    };
    const lum = ([r, g, b]: number[]) => {
      const ch = (v: number) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * ch(r!) + 0.7152 * ch(g!) + 0.0722 * ch(b!);
    };
    const fgText = getComputedStyle(node).color;
    let bgText = 'rgb(255, 255, 255)';
    for (let e: Element | null = node; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      const p = parse(c);
      if (p && p[3] >= 0.99) {
        bgText = c;
        break;
      }
    }
    const fg = parse(fgText);
    const bg = parse(bgText);
    if (!fg || !bg) return { ratio: 0, fg: fgText, bg: bgText };
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    return { ratio: (hi! + 0.05) / (lo! + 0.05), fg: fgText, bg: bgText };
  });
}

for (const scheme of ['dark', 'light'] as const) {
  test(`every area in the ${scheme} theme: heading and navigation shown, no sideways overflow, AA contrast`, async ({ page, server, backend }) => {
    await backend.request('settings.update', { theme: 'system' });
    await page.emulateMedia({ colorScheme: scheme });
    await openApp(page, server, '/');
    const nav = page.getByRole('navigation', { name: 'Areas' });
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    // The theme's faint text colour, resolved for this scheme.
    const faint = await page.evaluate(() => {
      const probe = document.createElement('span');
      probe.style.color = 'var(--text-faint)';
      document.body.append(probe);
      const c = getComputedStyle(probe).color;
      probe.remove();
      return c;
    });
    for (const area of areas) {
      await nav.getByRole('link', { name: area, exact: true }).click();
      const heading = page.getByRole('heading', { level: 1, name: area, exact: true });
      await expect(heading).toBeVisible();
      await expect(nav).toBeVisible();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, `${area}: page wider than the window`).toBeLessThanOrEqual(0);
      const key: [string, Locator][] = [['heading', heading], ['navigation link', nav.getByRole('link', { name: area, exact: true })]];
      const paragraphs = page.locator('main p');
      for (let k = 0; k < Math.min(5, await paragraphs.count()); k++) key.push([`paragraph ${k + 1}`, paragraphs.nth(k)]);
      for (const [what, el] of key) {
        if (!(await el.isVisible())) continue;
        const c = await contrast(el);
        // WCAG AA for normal-size text, hints and placeholders in the theme's faint colour included.
        expect(c.ratio, `${scheme} ${area} ${what}: ${c.fg} on ${c.bg}${c.fg === faint ? ' (faint)' : ''}`).toBeGreaterThanOrEqual(4.5);
      }
    }
    // The theme really switched: dark has a dark page, light a light one.
    const lumOfBody = await page.evaluate(() => {
      const m = /(\d+),\s*(\d+),\s*(\d+)/.exec(getComputedStyle(document.body).backgroundColor);
      return m ? (Number(m[1]) + Number(m[2]) + Number(m[3])) / 3 : -1;
    });
    expect(lumOfBody, background).toBeGreaterThanOrEqual(0);
    if (scheme === 'dark') expect(lumOfBody).toBeLessThan(100);
    else expect(lumOfBody).toBeGreaterThan(155);
  });
}
