// The polyglot example's statistics (see ../driver/app.py).

export function describe(estimate) {
  const off = Math.abs(estimate - Math.PI);
  return `${estimate.toFixed(5)} is ${off.toFixed(5)} from pi`;
}

export function spread(values) {
  if (values.length === 0) throw new Error('no values');
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return [mean, Math.sqrt(variance)];
}
