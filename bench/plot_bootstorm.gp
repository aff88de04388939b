# bench/plot_bootstorm.gp: plots for bench/bootstorm-compare.sh.
# gnuplot -e "dir='OUT/plot'; servers='nginx1 go'; title='100 nodes'" plot_bootstorm.gp
# Inputs: DIR/<server>.cdf ("completion_s fraction") and DIR/<server>.ts (bootstorm --timeseries:
# "t_s body_bytes_total mb_per_s booted active"). Outputs DIR/cdf.png and DIR/throughput.png.
if (!exists("dir")) dir = "."
if (!exists("servers")) servers = "stormwulfd nginx1 nginxauto go"
if (!exists("title")) title = ""
set terminal pngcairo size 900,520 font "sans,10"
set grid
set key top left
n = words(servers)

set output dir."/cdf.png"
set title "Node boot completion time CDF (".title.")"
set xlabel "completion time since node power-on (s)"
set ylabel "fraction of nodes done"
set yrange [0:1]
plot for [i=1:n] dir."/".word(servers,i).".cdf" using 1:2 with lines lw 2 lc i title word(servers,i)

set output dir."/throughput.png"
set title "Bytes served over time (".title."); dashed: nodes booted"
set xlabel "time since storm start (s)"
set ylabel "cumulative GB served"
set y2label "nodes booted"
set autoscale y
set yrange [0:*]
set y2range [0:*]
set y2tics
set key top left
plot for [i=1:n] dir."/".word(servers,i).".ts" using 1:($2/1e9) with lines lw 2 lc i \
       title word(servers,i), \
     for [i=1:n] dir."/".word(servers,i).".ts" using 1:4 axes x1y2 with lines dt 2 lc i notitle
