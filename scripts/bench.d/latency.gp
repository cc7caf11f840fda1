# gnuplot script for scripts/bench: latency (p50, p99) against connections, one line per series.
# Called as: gnuplot -e "data='FILE'; out='FILE.svg'; n=N" latency.gp (N index blocks, each headed by its title)
set terminal svg size 1100,460 dynamic enhanced font "sans,11" background "white"
set output out
set logscale xy
set xtics (1, 16, 64, 256, 1024)
set xrange [0.8:1400]
set format y "10^{%L}"
set xlabel "concurrent connections (closed loop, 1 request in flight each)"
set ylabel "latency (µs, log scale)"
set grid xtics ytics mytics lc rgb "#dddddd"
set key top left font ",9"
set datafile separator "\t"
set multiplot layout 1,2 title "TcpTableServer vs direct memcached, one scripts/bench run"
set title "p50"
plot for [i=0:n-1] data index i using 1:2 with linespoints lw 2 pt 7 ps 0.6 title columnheader(1)
set title "p99"
plot for [i=0:n-1] data index i using 1:3 with linespoints lw 2 pt 7 ps 0.6 title columnheader(1)
unset multiplot
