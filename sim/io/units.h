/* units.h: quantities written with units in configs.
 *
 * Plain numbers are SI base units (seconds, bytes, bytes per second). Strings
 * carry a unit: durations "250us", "1.5ms", "2s", "1min", "1h"; sizes "1.5MB"
 * (SI, 10^6), "4KiB" (binary), "512B", "8b" (bits); bandwidths "10Gbps",
 * "100Mbit/s" (bits per second), "125MB/s", "125MBps" (bytes per second);
 * plain rates such as FLOP/s accept an SI prefix: "2G", "2GFLOPS".
 * Each parser returns 0 and the value in base units, or -1 for text it does
 * not understand (the caller words the error). Whitespace between number and
 * unit is allowed; units are case-sensitive where SI makes them so (m vs M,
 * b vs B). */
#ifndef DTSIM_UNITS_H
#define DTSIM_UNITS_H

int units_parse_duration(const char *s, double *seconds);
int units_parse_size(const char *s, double *bytes);
int units_parse_bandwidth(const char *s, double *bytes_per_second);
int units_parse_rate(const char *s, double *per_second);

#endif
