// bench/ui/measure.js OURS_URL BASELINE_URL TOKEN ROUNDS
// Loads each app in a fresh headless Chromium context (cold cache) ROUNDS
// times, alternating, and prints per round and as medians: the bytes the
// visit downloaded as sent on the wire (compressed bodies plus headers), the
// number of requests, and the time from navigation start until the page
// shows what it is for: for rollout's UI, the dashboard with its data (the
// stat cards hold numbers and the trend chart has drawn its lines); for the baseline,
// its mounted Element Plus card.
'use strict';
const path = require('node:path');
const { chromium } = require(path.join(__dirname, '../../test/node_modules/playwright-core'));

const [oursUrl, baseUrl, token, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg || 5);

async function visit(browser, url, setup, ready) {
	const context = await browser.newContext();
	const page = await context.newPage();
	if (setup) await page.addInitScript(setup.fn, setup.arg);
	let bytes = 0;
	let requests = 0;
	const t0 = Date.now();
	page.on('requestfinished', async (req) => {
		requests++;
		const s = await req.sizes().catch(() => null);
		if (s) bytes += s.responseBodySize + s.responseHeadersSize;
		if (s && process.env.BENCH_VERBOSE) console.log(`  ${Date.now() - t0} ms\t${s.responseBodySize}\t${req.url().replace(/^.*?\/\/[^/]+/, '')}`);
	});
	await page.goto(url, { waitUntil: 'commit' });
	try {
		await page.waitForFunction(ready, null, { timeout: 30000, polling: 'raf' });
	} catch (e) {
		await page.screenshot({ path: path.join(__dirname, '../out/ui-timeout.png') }).catch(() => {});
		throw e;
	}
	const ms = await page.evaluate(() => performance.now());
	await page.waitForLoadState('networkidle');
	await new Promise((r) => setTimeout(r, 200));
	await context.close();
	return { bytes, requests, ms };
}

function median(xs) {
	const s = [...xs].sort((a, b) => a - b);
	return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

(async () => {
	const browser = await chromium.launch({
		executablePath: '/usr/bin/chromium',
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
	});
	const ours = [];
	const base = [];
	const dashboard = {
		fn: (t) => {
			sessionStorage.setItem('rollout.token', t);
		},
		arg: token,
	};
	const dashboardReady = () => {
		const card = document.querySelector('[data-test="stat-total-clients"]');
		const chart = document.querySelector('[data-test="chart-dashboard-trend"] path[d^="M"]');
		return card && /[0-9]/.test(card.textContent) && chart;
	};
	const baselineReady = () => document.querySelector('#ready') !== null;
	// one visit each first, not counted: the server's and the database's first requests
	await visit(browser, oursUrl + '#/dashboard', dashboard, dashboardReady);
	await visit(browser, baseUrl, null, baselineReady);
	for (let i = 0; i < rounds; i++) {
		// alternate which goes first, so neither always meets a warmer machine
		const pair = i % 2 === 0
			? [await visit(browser, oursUrl + '#/dashboard', dashboard, dashboardReady), await visit(browser, baseUrl, null, baselineReady)]
			: [null, await visit(browser, baseUrl, null, baselineReady)];
		if (pair[0] === null) pair[0] = await visit(browser, oursUrl + '#/dashboard', dashboard, dashboardReady);
		ours.push(pair[0]);
		base.push(pair[1]);
		console.log(`round ${i + 1}: rollout dashboard ${pair[0].bytes} B in ${pair[0].requests} requests, data shown at ${pair[0].ms.toFixed(0)} ms; ` +
			`baseline ${pair[1].bytes} B in ${pair[1].requests} requests, mounted at ${pair[1].ms.toFixed(0)} ms`);
	}
	const ob = median(ours.map((r) => r.bytes));
	const bb = median(base.map((r) => r.bytes));
	const ot = median(ours.map((r) => r.ms));
	const bt = median(base.map((r) => r.ms));
	console.log(`median: rollout dashboard ${ob} B (${(ob / 1024).toFixed(1)} KiB), ${ot.toFixed(0)} ms; ` +
		`baseline ${bb} B (${(bb / 1024).toFixed(1)} KiB), ${bt.toFixed(0)} ms`);
	console.log(`ratio rollout/baseline: bytes ${(ob / bb).toFixed(2)}, time ${(ot / bt).toFixed(2)}`);
	await browser.close();
})().catch((e) => {
	console.error(e);
	process.exit(1);
});
